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
        risk=risk_targets()[:1],  # results/signatures/statistics.tsv when signatures are used
        genes=expand("results/{cohort}/genes/statistics.tsv", cohort=COHORTS),
        tissue=tissue_targets(),  # results/tissue/statistics.tsv: tumour vs non-tumour
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
    params:
        meta_method=config["statistics"]["meta"]["method"],
    script:
        "../scripts/statistics.py"


rule report:
    """One self-contained HTML file for collaborators."""
    input:
        **risk_outputs(),
        statistics="results/statistics.tsv",
        h5ad=expand("results/{cohort}/prepared.h5ad", cohort=COHORTS),
        coverage=expand("results/{cohort}/coverage.tsv", cohort=COHORTS),
        scores=per_cohort_method("results/{cohort}/scores/{method}.tsv"),
        score_records=per_cohort_method("results/{cohort}/scores/{method}.json"),
        gmt=config["genesets"]["gmt"],
        genes_table=config["genesets"]["evidence"],
        gene_drivers=expand("results/{cohort}/genes/drivers.tsv", cohort=COHORTS),
        # tumour vs non-tumour (tissue.smk): both groups and their primary-method scores
        tissue_h5ad=expand(
            "results/{cohort}/tissue/prepared.h5ad", cohort=TISSUE_COHORTS
        ),
        tissue_scores=expand(
            "results/{cohort}/tissue/scores/{method}.tsv",
            cohort=TISSUE_COHORTS,
            method=config["scoring"].get("primary", METHODS[0]),
        ),
    output:
        "results/report.html",
    log:
        "logs/report.log",
    conda:
        "../envs/ferroscope.yaml"
    params:
        # job resources are not science: changing them must not rebuild the report
        config={k: v for k, v in config.items() if k != "resources"},
        models_not_trained=MODELS_NOT_TRAINED,
        response_arms={c: response_arm(c) for c in COHORTS},
        # downloaded files of public cohorts: their records (URL, sha256) go to the provenance
        downloads={
            c: [
                f"resources/cohorts/{c}/download/{name}"
                for name, _ in download_files(c).values()
            ]
            for c in COHORTS
            if download_files(c)
        },
    script:
        "../scripts/report.py"
