rule survival:
    """Cox HR per SD (Wald, LR, C-index, PH test) and KM median split for every scored set."""
    input:
        scores="results/{cohort}/scores/{method}.tsv",
        clinical="results/{cohort}/clinical.tsv",
    output:
        "results/{cohort}/survival/{method}.tsv",
    log:
        "logs/survival/{cohort}_{method}.log",
    conda:
        "../envs/ferroscope.yaml"
    params:
        endpoints=config["survival"]["endpoints"],
        min_events=config["survival"]["min_events"],
    script:
        "../scripts/survival.py"
