"""Screening tier: Cox HR per SD, C-index and KM median split of every scored set (batch engine)."""

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)

from ferroscope.checks import read_clinical, read_scores
from ferroscope.io import write_tsv
from ferroscope.logs import step_logging
from ferroscope.statistics import survival_rows
from ferroscope.survival import survival_table

with step_logging(snakemake.log[0], "survival_screen") as log:
    clin = read_clinical(snakemake.input.clinical)
    scores = read_scores(snakemake.input.scores, clin.index)
    results = {}
    for endpoint in snakemake.params.endpoints:
        if f"{endpoint}_time_months" not in clin.columns:
            log.info("no %s in this cohort", endpoint)
            continue
        table = survival_table(clin[f"{endpoint}_time_months"], clin[f"{endpoint}_event"],
                               scores, min_events=snakemake.params.min_events, detail=[],
                               td_auc=False)
        results.update({(s, endpoint): r for s, r in table.items()})
    log.info("%d sets x endpoints screened", len(results))
    write_tsv(survival_rows(results, snakemake.wildcards.cohort, snakemake.wildcards.method),
              snakemake.output[0])
