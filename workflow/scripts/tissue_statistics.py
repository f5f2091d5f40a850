"""All cohorts' tumour vs non-tumour tests, pooled across cohorts, with their own BH FDR."""

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)

from ferroscope import tissue
from ferroscope.checks import read_results
from ferroscope.io import write_tsv
from ferroscope.logs import step_logging

with step_logging(snakemake.log[0], "tissue_statistics") as log:
    table = tissue.with_pooled_and_fdr([read_results(p) for p in snakemake.input],
                                       meta_method=snakemake.params.meta_method)
    log.info("%d tests, %d with q < 0.05", int(table["p"].notna().sum()),
             int((table["q"] < 0.05).sum()))
    write_tsv(table, snakemake.output[0])
