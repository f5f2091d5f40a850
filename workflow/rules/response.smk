rule response_screen:
    """Screening tier: AUC (DeLong CI) and Mann-Whitney p of every scored set."""
    input:
        scores="results/{cohort}/scores/{method}.tsv",
        clinical="results/{cohort}/clinical.tsv",
    output:
        "results/{cohort}/screen/response_{method}.tsv",
    log:
        "logs/response_screen/{cohort}_{method}.log",
    group:
        "screen"
    conda:
        "../envs/ferroscope.yaml"
    resources:
        mem_mb=lambda wc: resource("response_screen", "mem_mb", 1500),
        runtime=lambda wc: resource("response_screen", "runtime", 20),
    params:
        min_per_class=config["response"]["min_per_class"],
        arm=lambda wc: response_arm(wc.cohort),
    script:
        "../scripts/response_screen.py"


rule response:
    """Screening statistics of every scored set plus the detail tier (odds ratio per SD, adjusted,
    arm interaction) for the sets of results/detail_selection.tsv."""
    input:
        scores="results/{cohort}/scores/{method}.tsv",
        clinical="results/{cohort}/clinical.tsv",
        screen="results/{cohort}/screen/response_{method}.tsv",
        selection="results/detail_selection.tsv",
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
