"""Score published signatures and frozen models in every cohort; locked validation tables."""

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)

from ferroscope.checks import read_h5ad
from ferroscope.genesets import AliasTable, member_matrix
from ferroscope.io import write_tsv
from ferroscope.logs import step_logging
from ferroscope.signatures import evaluate, read_signature

with step_logging(snakemake.log[0], "risk_validation") as log:
    aliases = AliasTable.read(snakemake.input.aliases)
    sigs = [read_signature(p, aliases) for p in
            [*snakemake.input.signatures, *snakemake.input.models]]
    genes = [g for sig in sigs for g in sig.coefficients.index]
    cohorts = {}
    for path in snakemake.input.h5ad:
        adata = read_h5ad(path)
        # signature genes -> the cohort's rows (approved symbol first, then aliases)
        expr = member_matrix(adata.to_df().T, genes, aliases)
        cohorts[str(adata.uns["cohort"])] = (expr, adata.obs)
    endpoints = {m: v["endpoint"] for m, v in snakemake.params.models.items()}
    tables = evaluate(cohorts, sigs, max_missing_share=snakemake.params.max_missing_share,
                      endpoints=endpoints, min_events=snakemake.params.min_events,
                      n_boot=snakemake.params.n_boot,
                      seeds={m: int(v["seed"]) for m, v in snakemake.params.models.items()})
    log.info("%d signatures x %d cohorts: %d validated", len(sigs), len(cohorts),
             int((tables.statistics["status"] == "ok").sum()))
    write_tsv(tables.statistics, snakemake.output.statistics)
    write_tsv(tables.scores, snakemake.output.scores)
    write_tsv(tables.coverage, snakemake.output.coverage)
    write_tsv(tables.calibration, snakemake.output.calibration)
    write_tsv(tables.curve, snakemake.output.calibration_curve)
