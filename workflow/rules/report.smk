rule statistics:
    """All cohorts x methods x sets x endpoints in one table, with BH FDR per method."""
    input:
        survival=per_cohort_method(
            "results/{cohort}/survival/{method}.tsv",
            cohorts=[c for c in COHORTS if has_survival(c)],
        ),
        response=per_cohort_method(
            "results/{cohort}/response/{method}.tsv",
            cohorts=[c for c in COHORTS if has_response(c)],
        ),
    output:
        report(
            "results/statistics.tsv",
            caption="../report/statistics.rst",
            category="Statistics",
        ),
    log:
        "logs/statistics.log",
    conda:
        "../envs/ferroscope.yaml"
    script:
        "../scripts/statistics.py"


rule report:
    """One self-contained HTML file for collaborators."""
    input:
        statistics="results/statistics.tsv",
        h5ad=expand("results/{cohort}/prepared.h5ad", cohort=COHORTS),
        coverage=expand("results/{cohort}/coverage.tsv", cohort=COHORTS),
        scores=per_cohort_method("results/{cohort}/scores/{method}.tsv"),
        gmt=config["genesets"]["gmt"],
        genes_table=config["genesets"]["evidence"],
    output:
        "results/report.html",
    log:
        "logs/report.log",
    conda:
        "../envs/ferroscope.yaml"
    params:
        # job resources are not science: changing them must not rebuild the report
        config={k: v for k, v in config.items() if k != "resources"},
        response_arms={c: response_arm(c) for c in COHORTS},
    script:
        "../scripts/report.py"
