rule survival:
    """Cox HR per SD (Wald, LR, C-index, PH test) and KM median split for every scored set."""
    input:
        scores="results/{cohort}/scores/{method}.tsv",
        clinical="results/{cohort}/clinical.tsv",
    output:
        "results/{cohort}/survival/{method}.tsv",
    log:
        "logs/survival/{cohort}_{method}.log",
    group:
        "outcome"
    conda:
        "../envs/ferroscope.yaml"
    resources:
        mem_mb=lambda wc: resource("survival", "mem_mb", 1500),
        runtime=lambda wc: resource("survival", "runtime", 20),
    params:
        endpoints=config["survival"]["endpoints"],
        min_events=config["survival"]["min_events"],
        covariates=lambda wc: cohort_cfg(wc)["clinical"].get("covariates", []),
        n_boot=config["survival"]["n_boot"],
    script:
        "../scripts/survival.py"
