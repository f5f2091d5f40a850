"""Response statistics of every scored set: screening tier for all, detail tier for the selected."""

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
from ferroscope.response import interaction_test, response_table, treated_arm
from ferroscope.statistics import response_rows

with step_logging(snakemake.log[0], "response") as log:
    cohort, method = snakemake.wildcards.cohort, snakemake.wildcards.method
    clin = read_clinical(snakemake.input.clinical,
                         columns=["response", *snakemake.params.covariates])
    scores = read_scores(snakemake.input.scores, clin.index)
    clin = clin.reindex(scores.index)
    screen = read_results(snakemake.input.screen, cohort=cohort, method=method)
    chosen = read_detail_selection(snakemake.input.selection)
    detail = chosen.loc[(chosen["cohort"] == cohort) & (chosen["method"] == method)
                        & (chosen["analysis"] == "auc"), "set"]
    # the prepare step wrote the arms as config names them (matched case-insensitively)
    arm = str(snakemake.params.arm or "")
    control = str(snakemake.params.control_arm or "")
    covs = clin[list(snakemake.params.covariates)]
    treated = treated_arm(clin, arm, file=snakemake.input.clinical, cohort=cohort)
    if arm:
        log.info("response analysed in arm '%s' (%d patients)", arm, len(treated))
    results = response_table(treated["response"], scores.loc[treated.index],
                             min_per_class=snakemake.params.min_per_class, covariates=covs,
                             detail=detail)
    log.info("%d sets, %d in the detail tier", len(results), len(detail))
    for s, r in results.items():
        if arm and control and r.status == "ok" and r.tier == "detail":
            interaction_test(clin["response"], scores[s], clin["arm"], treated=arm,
                             control=control, res=r,
                             min_per_class=snakemake.params.min_per_class)
    table = response_rows(results, cohort, method)
    check_screening(table, screen, snakemake.input.screen)
    write_tsv(table, snakemake.output[0])
