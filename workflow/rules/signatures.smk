# Risk signatures (issue 12): published coefficient signatures and penalised Cox models trained
# in one cohort, frozen, and validated in the others (ferroscope.signatures, ferroscope.riskmodel).
# Configuration and helper functions: signatures_common.smk.


rule risk_model:
    """Train a penalised Cox model (repeated k-fold CV, fixed seed) and freeze it as a signature
    file; selection frequency of each gene over the CV repeats."""
    input:
        h5ad=lambda wc: f"results/{MODELS[wc.model]['cohort']}/prepared.h5ad",
        gmt=config["genesets"]["gmt"],
        aliases=config["genesets"]["aliases"],
    output:
        signature="results/models/{model}/signature.tsv",
        coefficients="results/models/{model}/coefficients.tsv",
        cv="results/models/{model}/cv.tsv",
        selection="results/models/{model}/selection.tsv",
        summary="results/models/{model}/model.json",
    log:
        "logs/risk_model/{model}.log",
    conda:
        "../envs/ferroscope.yaml"
    resources:
        mem_mb=lambda wc: resource("risk_model", "mem_mb", 2000),
        runtime=lambda wc: resource("risk_model", "runtime", 30),
    params:
        model=lambda wc: MODELS[wc.model],
        min_events=config["survival"]["min_events"],
    script:
        "../scripts/model_train.py"


rule risk_validation:
    """Score every signature and frozen model in every cohort; locked validation statistics."""
    input:
        h5ad=expand("results/{cohort}/prepared.h5ad", cohort=COHORTS),
        signatures=SIGNATURE_FILES,
        models=expand("results/models/{model}/signature.tsv", model=MODELS),
        aliases=config["genesets"]["aliases"],
    output:
        statistics="results/signatures/statistics.tsv",
        scores="results/signatures/scores.tsv",
        coverage="results/signatures/coverage.tsv",
        calibration="results/signatures/calibration.tsv",
        calibration_curve="results/signatures/calibration_curve.tsv",
    log:
        "logs/risk_validation.log",
    conda:
        "../envs/ferroscope.yaml"
    resources:
        mem_mb=lambda wc: resource("risk_validation", "mem_mb", 3000),
        runtime=lambda wc: resource("risk_validation", "runtime", 30),
    params:
        max_missing_share=config["signatures"]["max_missing_share"],
        models={m: MODELS[m] for m in MODELS},
        min_events=config["survival"]["min_events"],
        n_boot=config["survival"]["n_boot"],
    script:
        "../scripts/signature_validate.py"
