rule figure_forest:
    """Static forest plot (PNG + SVG) of one analysis for one method, for papers."""
    input:
        "results/statistics.tsv",
    output:
        png=report(
            "results/figures/forest_{analysis}_{method}.png",
            caption="../report/forest.rst",
            category="Figures",
        ),
        svg="results/figures/forest_{analysis}_{method}.svg",
    log:
        "logs/figures/forest_{analysis}_{method}.log",
    wildcard_constraints:
        analysis="cox_hr_per_sd|auc",
    group:
        "figures"
    conda:
        "../envs/ferroscope.yaml"
    script:
        "../scripts/figures.py"


rule figure_cohort:
    """Static Kaplan-Meier (km) or ROC (roc) panels for one cohort, primary method."""
    input:
        stats="results/statistics.tsv",
        clinical="results/{cohort}/clinical.tsv",
        scores=f"results/{{cohort}}/scores/{config['scoring']['primary']}.tsv",
    output:
        png=report(
            "results/figures/{kind}_{cohort}.png",
            caption="../report/cohort_figure.rst",
            category="Figures",
            labels={"cohort": "{cohort}", "figure": "{kind}"},
        ),
        svg="results/figures/{kind}_{cohort}.svg",
    log:
        "logs/figures/{kind}_{cohort}.log",
    wildcard_constraints:
        kind="km|roc",
    group:
        "figures"
    conda:
        "../envs/ferroscope.yaml"
    params:
        method=config["scoring"]["primary"],
        response_arm=lambda wc: response_arm(wc.cohort),
    script:
        "../scripts/figures.py"
