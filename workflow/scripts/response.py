"""Response statistics of every scored set for one cohort and method."""

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)
import pandas as pd

from ferroscope.io import write_tsv
from ferroscope.logs import step_logging
from ferroscope.response import auc_test
from ferroscope.statistics import response_rows

with step_logging(snakemake.log[0], "response") as log:
    scores = pd.read_csv(snakemake.input.scores, sep="\t", index_col="sample_id")
    clin = pd.read_csv(snakemake.input.clinical, sep="\t", index_col="sample_id",
                       keep_default_na=True).reindex(scores.index)
    arm = str(clin["response_arm"].dropna().iloc[0]) if clin["response_arm"].notna().any() else ""
    if arm:
        clin = clin[clin["arm"].astype(str) == arm]
        log.info("response analysed in arm '%s' (%d patients)", arm, len(clin))
    results = {s: auc_test(clin["response"], scores.loc[clin.index, s],
                           min_per_class=snakemake.params.min_per_class) for s in scores.columns}
    write_tsv(response_rows(results, snakemake.wildcards.cohort, snakemake.wildcards.method),
              snakemake.output[0])
