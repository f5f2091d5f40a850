"""Assemble one cohort through its source (ferroscope.sources): raw expression + clinical."""

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)

from ferroscope import sources
from ferroscope.logs import step_logging

cfg = snakemake.params.cohort
with step_logging(snakemake.log[0], f"cohort_source.{cfg['source']}") as log:
    inputs = {role: str(path) for role, path in snakemake.input.items()}
    assembled = sources.assemble(cfg, inputs, log)
    assembled.write(snakemake.output.expression, snakemake.output.clinical,
                    snakemake.output.records)
