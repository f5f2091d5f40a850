# Risk signatures (issue 12): configuration, targets and inputs of workflow/rules/signatures.smk
# (functions only, kept apart from the rules as snakemake --lint asks).
def signature_path(path):
    """A signature file: relative to the working directory, else shipped with this checkout."""
    if Path(path).is_file():
        return path
    shipped = FERROSCOPE_ROOT / path
    if shipped.is_file():
        return str(shipped)
    raise WorkflowError(
        "ferroscope: invalid configuration.\n"
        + str(
            FerroscopeError(
                f"signature file '{path}' does not exist.",
                file="config/config.yaml",
                field="signatures.files",
                fix="give a path relative to the working directory (or to the ferroscope "
                "checkout, e.g. resources/signatures/liang2020_ijbs.tsv).",
            )
        )
    ) from None


def model_settings(name, entry):
    """A model's settings checked at parse time (a misspelt cutpoint, select or
    validation_scaling stops before any job, naming the allowed values)."""
    from ferroscope.riskmodel import ModelSettings

    try:
        ModelSettings.from_config(name, entry)
    except FerroscopeError as err:
        raise WorkflowError(f"ferroscope: invalid configuration.\n{err}") from None
    return entry


SIGNATURE_FILES = [signature_path(p) for p in config["signatures"]["files"]]
MODELS = {
    m: model_settings(m, v)
    for m, v in config["models"].items()
    if v["cohort"] in config["cohorts"]
}
# shown in the report's risk-signature section (never dropped silently)
MODELS_NOT_TRAINED = {
    m: f"training cohort '{v['cohort']}' is not among the configured cohorts"
    for m, v in config["models"].items()
    if m not in MODELS
}


wildcard_constraints:
    model="|".join(map(re.escape, MODELS)) or "(?!)",


def risk_enabled():
    return bool(SIGNATURE_FILES or MODELS)


def risk_outputs():
    """Inputs the statistics and report rules take from this stage (none when unused)."""
    if not risk_enabled():
        return {}
    return {
        "risk_statistics": "results/signatures/statistics.tsv",
        "risk_scores": "results/signatures/scores.tsv",
        "risk_coverage": "results/signatures/coverage.tsv",
        "risk_calibration": "results/signatures/calibration.tsv",
        "risk_calibration_curve": "results/signatures/calibration_curve.tsv",
        "risk_models": expand("results/models/{model}/model.json", model=MODELS),
        "signatures": SIGNATURE_FILES,
    }


def risk_targets():
    out = risk_outputs()
    return [
        out[k] for k in out if k.startswith("risk_") and k != "risk_models"
    ] + out.get("risk_models", [])
