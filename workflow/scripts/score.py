"""Score the covered gene sets of one cohort with one method."""

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)
import pandas as pd

from ferroscope.checks import read_h5ad
from ferroscope.genesets import AliasTable, read_gmt, resolve_sets
from ferroscope.io import write_tsv
from ferroscope.logs import step_logging
from ferroscope.scoring import check_matrix, score_sets

with step_logging(snakemake.log[0], "score") as log:
    adata = read_h5ad(snakemake.input.h5ad)
    cov = pd.read_csv(snakemake.input.coverage, sep="\t")
    scored = set(cov.loc[cov["scored"], "set"])
    aliases = AliasTable.read(snakemake.input.aliases)
    all_sets = read_gmt(snakemake.input.gmt, aliases)
    expr = adata.to_df().T
    check_matrix(expr, snakemake.input.h5ad)
    # Constant genes carry no information and are excluded (counted as missing in coverage).
    expr = expr.loc[expr.max(axis=1) > expr.min(axis=1)]
    # members -> matrix rows, resolved over all sets exactly as the coverage step does
    sets = [s for s in resolve_sets(all_sets, expr.index, aliases) if s.name in scored]
    log.info("%s: scoring %d sets on %d samples", snakemake.wildcards.method, len(sets),
             expr.shape[1])
    scores = score_sets(expr, sets, snakemake.wildcards.method,
                        params=dict(snakemake.params.options),
                        chunk_size=snakemake.params.chunk_size)
    scores.index.name = "sample_id"
    write_tsv(scores, snakemake.output[0], index=True)
