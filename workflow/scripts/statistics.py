"""Merge per-cohort results into results/statistics.tsv with BH FDR."""

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)
import pandas as pd

from ferroscope.checks import read_results
from ferroscope.genelevel import combine_genes
from ferroscope.io import write_tsv
from ferroscope.logs import step_logging
from ferroscope.statistics import combine
from ferroscope.tissue import concat_tissue

with step_logging(snakemake.log[0], "statistics") as log:
    tables = [read_results(p) for p in [*snakemake.input.survival, *snakemake.input.response,
                                        *snakemake.input.risk]]
    table = combine(tables, meta_method=snakemake.params.meta_method)
    # tumour vs non-tumour rows: pooled and FDR-adjusted in their own family (tissue.smk)
    table = concat_tissue(table, [read_results(p) for p in snakemake.input.tissue])
    log.info("%d tests, %d with q < 0.05", table["p"].notna().sum(), (table["q"] < 0.05).sum())
    # gene-level rows: their own pooling and FDR family (ferroscope.genelevel.combine_genes)
    genes = combine_genes([read_results(p) for p in snakemake.input.genes],
                          meta_method=snakemake.params.meta_method)
    if not genes.empty:
        tested = genes.drop_duplicates(["cohort", "gene", "endpoint", "analysis"])
        log.info("gene level: %d tests, %d with q < 0.05", tested["p"].notna().sum(),
                 (tested["q"] < 0.05).sum())
        table = pd.concat([table, genes], ignore_index=True)
        cols = [c for c in table.columns if c != "gene"]
        cols.insert(cols.index("set") + 1, "gene")
        table = table[cols]
    write_tsv(table, snakemake.output[0])
