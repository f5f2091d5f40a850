"""Train one penalised Cox model in its cohort and write the frozen model (results/models/)."""

import json

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)

from ferroscope.checks import read_h5ad
from ferroscope.genesets import AliasTable, member_matrix, read_gmt
from ferroscope.io import atomic_open, write_tsv
from ferroscope.logs import step_logging
from ferroscope.riskmodel import ModelSettings, model_universe, train_coxnet

name = snakemake.wildcards.model
opts = ModelSettings.from_config(name, snakemake.params.model)
with step_logging(snakemake.log[0], "risk_model") as log:
    adata = read_h5ad(snakemake.input.h5ad)
    aliases = AliasTable.read(snakemake.input.aliases)
    sets = read_gmt(snakemake.input.gmt, aliases)
    universe = model_universe(
        sets,
        opts.universe if isinstance(opts.universe, str) else list(opts.universe),
        model=name,
        gmt=snakemake.input.gmt,
    )
    # universe genes -> the cohort's rows (approved symbol first, then aliases)
    expr = member_matrix(adata.to_df().T, universe, aliases)
    clin = adata.obs
    ep = opts.endpoint
    model = train_coxnet(
        expr,
        clin.get(f"{ep}_time_months"),
        clin.get(f"{ep}_event"),
        name=name,
        cohort=opts.cohort,
        universe=universe,
        l1_ratio=opts.l1_ratio,
        n_folds=opts.folds,
        cv_repeats=opts.cv_repeats,
        seed=opts.seed,
        select=opts.select,
        cutpoint=opts.cutpoint,
        validation_scaling=opts.validation_scaling,
        min_events=snakemake.params.min_events,
        endpoint=ep,
        source="config/config.yaml",
    )
    log.info(
        "%s: %d of %d genes at %s = %.4g (lambda.min %.4g, lambda.1se %.4g; mean CV curve "
        "over %d repeats)",
        name,
        len(model.coefficients),
        model.n_universe,
        model.selected,
        model.selected_lambda,
        model.lambda_min,
        model.lambda_1se,
        opts.cv_repeats,
    )
    for note in model.notes:
        log.warning("%s: %s", name, note)
    with atomic_open(snakemake.output.signature, "w") as fh:
        fh.write(model.signature_text())
    write_tsv(model.coefficient_table(), snakemake.output.coefficients)
    write_tsv(model.cv.table(), snakemake.output.cv)
    write_tsv(model.selection_table(), snakemake.output.selection)
    with atomic_open(snakemake.output.summary, "w") as fh:
        json.dump(model.summary(), fh, indent=2)
