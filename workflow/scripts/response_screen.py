"""Screening tier: AUC (DeLong CI) and Mann-Whitney p of every scored set (batch engine)."""

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)

from ferroscope.checks import read_clinical, read_scores
from ferroscope.io import write_tsv
from ferroscope.logs import step_logging
from ferroscope.response import response_table, treated_arm
from ferroscope.statistics import response_rows

with step_logging(snakemake.log[0], "response_screen") as log:
    clin = read_clinical(snakemake.input.clinical, columns=["response"])
    scores = read_scores(snakemake.input.scores, clin.index)
    treated = treated_arm(clin.reindex(scores.index), snakemake.params.arm,
                          file=snakemake.input.clinical, cohort=snakemake.wildcards.cohort)
    results = response_table(treated["response"], scores.loc[treated.index],
                             min_per_class=snakemake.params.min_per_class, detail=[])
    log.info("%d sets screened", len(results))
    write_tsv(response_rows(results, snakemake.wildcards.cohort, snakemake.wildcards.method),
              snakemake.output[0])
