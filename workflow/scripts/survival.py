"""Survival statistics of every scored set: screening tier for all, detail tier for the selected."""

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)

from ferroscope.checks import (
    check_screening,
    read_clinical,
    read_detail_selection,
    read_results,
    read_scores,
)
from ferroscope.io import write_tsv
from ferroscope.logs import step_logging
from ferroscope.statistics import survival_rows
from ferroscope.survival import survival_table

with step_logging(snakemake.log[0], "survival") as log:
    cohort, method = snakemake.wildcards.cohort, snakemake.wildcards.method
    clin = read_clinical(snakemake.input.clinical, columns=snakemake.params.covariates)
    scores = read_scores(snakemake.input.scores, clin.index)
    screen = read_results(snakemake.input.screen, cohort=cohort, method=method)
    chosen = read_detail_selection(snakemake.input.selection)
    chosen = chosen[(chosen["cohort"] == cohort) & (chosen["method"] == method)
                    & (chosen["analysis"] == "cox_hr_per_sd")]
    results = {}
    for endpoint in snakemake.params.endpoints:
        if f"{endpoint}_time_months" not in clin.columns:
            log.info("no %s in this cohort", endpoint)
            continue
        detail = chosen.loc[chosen["endpoint"] == endpoint, "set"]
        table = survival_table(
            clin[f"{endpoint}_time_months"], clin[f"{endpoint}_event"], scores,
            min_events=snakemake.params.min_events, detail=detail,
            covariates=clin[list(snakemake.params.covariates)],
            n_boot=snakemake.params.n_boot, time_unit="months")
        log.info("%s: %d sets, %d in the detail tier", endpoint, len(table), len(detail))
        results.update({(s, endpoint): r for s, r in table.items()})
    table = survival_rows(results, cohort, method)
    check_screening(table, screen, snakemake.input.screen)
    write_tsv(table, snakemake.output[0])
