"""Response statistics of every scored set for one cohort and method."""

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)
import pandas as pd

from ferroscope.checks import read_clinical, read_scores
from ferroscope.errors import FerroscopeError
from ferroscope.io import write_tsv
from ferroscope.logs import step_logging
from ferroscope.response import auc_test, interaction_test, treated_subset
from ferroscope.statistics import response_rows

with step_logging(snakemake.log[0], "response") as log:
    clin = read_clinical(snakemake.input.clinical,
                         columns=["response", *snakemake.params.covariates])
    scores = read_scores(snakemake.input.scores, clin.index)
    clin = clin.reindex(scores.index)
    # the prepare step wrote the arms as config names them (matched case-insensitively)
    arm = str(snakemake.params.arm or "")
    control = str(snakemake.params.control_arm or "")
    covs = clin[list(snakemake.params.covariates)]
    treated = treated_subset(clin, arm, labelled=False)
    if arm and treated.empty:
        arms = clin["arm"].fillna("").astype(str) if "arm" in clin else pd.Series("", clin.index)
        seen = ", ".join(f"'{a}' {n}" for a, n in arms.value_counts().items())
        raise FerroscopeError(
            f"no scored sample is in arm '{arm}' (arms of the scored samples: {seen}).",
            file=snakemake.input.clinical, field=f"cohorts.{snakemake.wildcards.cohort}."
            "clinical.response.arm", fix="name an arm present in the data, or check that the "
            "samples of that arm have expression.")
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
