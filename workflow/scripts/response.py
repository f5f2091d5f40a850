"""Response statistics of every scored set for one cohort and method."""

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)

from ferroscope.checks import read_clinical, read_scores
from ferroscope.io import write_tsv
from ferroscope.logs import step_logging
from ferroscope.response import auc_test, interaction_test
from ferroscope.statistics import response_rows

with step_logging(snakemake.log[0], "response") as log:
    clin = read_clinical(snakemake.input.clinical,
                         columns=["response", *snakemake.params.covariates])
    scores = read_scores(snakemake.input.scores, clin.index)
    arm = str(clin["response_arm"].dropna().iloc[0]) if clin["response_arm"].notna().any() else ""
    control = snakemake.params.control_arm
    covs = clin[list(snakemake.params.covariates)]
    treated = clin[clin["arm"].astype(str) == arm] if arm else clin
    if arm:
        log.info("response analysed in arm '%s' (%d patients)", arm, len(treated))
    results = {}
    for s in scores.columns:
        r = auc_test(treated["response"], scores.loc[treated.index, s],
                     min_per_class=snakemake.params.min_per_class, covariates=covs)
        if arm and control and r.status == "ok":
            interaction_test(clin["response"], scores[s], clin["arm"], treated=arm,
                             control=control, res=r,
                             min_per_class=snakemake.params.min_per_class)
        results[s] = r
    write_tsv(response_rows(results, snakemake.wildcards.cohort, snakemake.wildcards.method),
              snakemake.output[0])
