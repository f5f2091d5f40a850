"""Survival statistics of every scored set for one cohort and method."""

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)

from ferroscope.checks import read_clinical, read_scores
from ferroscope.io import write_tsv
from ferroscope.logs import step_logging
from ferroscope.statistics import survival_rows
from ferroscope.survival import cox_per_sd

with step_logging(snakemake.log[0], "survival") as log:
    clin = read_clinical(snakemake.input.clinical, columns=snakemake.params.covariates)
    scores = read_scores(snakemake.input.scores, clin.index)
    results = {}
    for endpoint in snakemake.params.endpoints:
        if f"{endpoint}_time_months" not in clin.columns:
            log.info("no %s in this cohort", endpoint)
            continue
        for set_name in scores.columns:
            results[(set_name, endpoint)] = cox_per_sd(
                clin[f"{endpoint}_time_months"], clin[f"{endpoint}_event"], scores[set_name],
                min_events=snakemake.params.min_events,
                covariates=clin[list(snakemake.params.covariates)],
                n_boot=snakemake.params.n_boot, time_unit="months")
    table = survival_rows(results, snakemake.wildcards.cohort, snakemake.wildcards.method)
    write_tsv(table, snakemake.output[0])
