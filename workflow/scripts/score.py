"""Score the covered gene sets of one cohort with one method; a JSON sidecar records missing
cells, NA scores and (GSVA) the kernel used and why."""

import json

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)
import pandas as pd

from ferroscope.checks import read_h5ad
from ferroscope.genesets import AliasTable, read_gmt, resolve_sets
from ferroscope.io import atomic_open, write_tsv
from ferroscope.logs import step_logging
from ferroscope.scoring import check_matrix, run_record, score_sets, unusable_genes

with step_logging(snakemake.log[0], "score") as log:
    cohort, method = snakemake.wildcards.cohort, snakemake.wildcards.method
    adata = read_h5ad(snakemake.input.h5ad)
    cov = pd.read_csv(snakemake.input.coverage, sep="\t")
    scored = set(cov.loc[cov["scored"], "set"])
    aliases = AliasTable.read(snakemake.input.aliases)
    all_sets = read_gmt(snakemake.input.gmt, aliases)
    expr = adata.to_df().T
    check_matrix(expr, snakemake.input.h5ad)
    # constant and unmeasured genes carry no information (counted as missing in coverage)
    expr = expr.drop(index=list(unusable_genes(expr)))
    # members -> matrix rows, resolved over all sets exactly as the coverage step does
    sets = [s for s in resolve_sets(all_sets, expr.index, aliases) if s.name in scored]
    # what prepare did to the values (GSVA's kcdf "auto" reads it: see ferroscope.scoring.gsva)
    log_transformed = bool(json.loads(adata.uns.get("prepare", "{}")).get("log_transformed"))
    info: dict = {}
    log.info("%s: scoring %d sets on %d samples (%d missing cells, policy %s)", method,
             len(sets), expr.shape[1], int(expr.isna().to_numpy().sum()),
             snakemake.params.missing)
    scores = score_sets(expr, sets, method, params=snakemake.params.options,
                        chunk_size=snakemake.params.chunk_size,
                        missing=snakemake.params.missing, min_size=snakemake.params.min_size,
                        log_transformed=log_transformed, info=info, cohort=cohort)
    if info.get("kcdf"):
        log.info("gsva kernel: %s (%s)", info["kcdf"], info["kcdf_reason"])
    scores.index.name = "sample_id"
    record = run_record(expr, scores, method, cohort=cohort, missing=snakemake.params.missing,
                        info=info, sets=sets)
    write_tsv(scores, snakemake.output.scores, index=True, na_rep="NA")  # NA: policy, not a cut
    with atomic_open(snakemake.output.record, "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=1, sort_keys=True)
