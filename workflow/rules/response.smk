rule response:
    """AUC (DeLong CI) and Mann-Whitney p of every scored set against treatment response."""
    input:
        scores="results/{cohort}/scores/{method}.tsv",
        clinical="results/{cohort}/clinical.tsv",
    output:
        "results/{cohort}/response/{method}.tsv",
    log:
        "logs/response/{cohort}_{method}.log",
    group:
        "outcome"
    conda:
        "../envs/ferroscope.yaml"
    resources:
        mem_mb=lambda wc: resource("response", "mem_mb", 1500),
        runtime=lambda wc: resource("response", "runtime", 20),
    params:
        min_per_class=config["response"]["min_per_class"],
        arm=lambda wc: response_arm(wc.cohort),
        control_arm=lambda wc: cohort_cfg(wc)["clinical"]["response"].get(
            "control_arm", ""
        ),
        covariates=lambda wc: cohort_cfg(wc)["clinical"].get("covariates", []),
    script:
        "../scripts/response.py"
