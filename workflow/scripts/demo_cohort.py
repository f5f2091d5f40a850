"""Generate the synthetic demo cohort's raw files."""

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)

from ferroscope import demo
from ferroscope.genesets import AliasTable, read_gmt
from ferroscope.logs import step_logging

with step_logging(snakemake.log[0], "demo_cohort") as log:
    sets = read_gmt(snakemake.input.gmt, AliasTable.read(snakemake.input.aliases))
    opts = snakemake.params.demo
    cohort = demo.generate(sets, n_patients=opts.get("n_patients", 300),
                           n_genes=opts.get("n_genes", 20000), seed=opts.get("seed", 20261124))
    log.info("generated %d genes x %d samples", *cohort.expression.shape)
    demo.write(cohort, snakemake.output.expression, snakemake.output.clinical)
