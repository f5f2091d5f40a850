"""Gene coverage per set for one cohort."""

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)

from ferroscope.checks import read_h5ad
from ferroscope.genesets import AliasTable, coverage, read_gmt
from ferroscope.io import write_tsv
from ferroscope.logs import step_logging
from ferroscope.scoring import constant_genes

with step_logging(snakemake.log[0], "coverage") as log:
    adata = read_h5ad(snakemake.input.h5ad)
    sets = read_gmt(snakemake.input.gmt, AliasTable.read(snakemake.input.aliases))
    expr = adata.to_df().T
    constant = {g: "constant across samples" for g in constant_genes(expr)}
    table = coverage(sets, adata.var_names, min_genes=snakemake.params.min_genes,
                     min_coverage=snakemake.params.min_coverage, unusable=constant)
    table.insert(0, "cohort", snakemake.wildcards.cohort)
    for row in table.itertuples():
        if not row.scored:
            log.warning("%s not scored: %s", row.set, row.reason)
    write_tsv(table, snakemake.output[0])
