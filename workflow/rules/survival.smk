rule survival_screen:
    """Screening tier: Cox HR per SD (Wald, LR, C-index) and KM median split, every scored set."""
    input:
        scores="results/{cohort}/scores/{method}.tsv",
        clinical="results/{cohort}/clinical.tsv",
    output:
        "results/{cohort}/screen/survival_{method}.tsv",
    log:
        "logs/survival_screen/{cohort}_{method}.log",
    group:
        "screen"
    conda:
        "../envs/ferroscope.yaml"
    resources:
        mem_mb=lambda wc: resource("survival_screen", "mem_mb", 1500),
        runtime=lambda wc: resource("survival_screen", "runtime", 20),
    params:
        endpoints=config["survival"]["endpoints"],
        min_events=config["survival"]["min_events"],
    script:
        "../scripts/survival_screen.py"


rule survival:
    """Screening statistics of every scored set plus the detail tier (PH test, maxstat, time
    split, adjusted HR, td-AUC) for the sets of results/detail_selection.tsv."""
    input:
        scores="results/{cohort}/scores/{method}.tsv",
        clinical="results/{cohort}/clinical.tsv",
        screen="results/{cohort}/screen/survival_{method}.tsv",
        selection="results/detail_selection.tsv",
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
