rule genes:
    """Gene-level Cox per SD, KM and AUC for member and seed genes, and leave-one-gene-out."""
    input:
        h5ad="results/{cohort}/prepared.h5ad",
        clinical="results/{cohort}/clinical.tsv",
        own_coverage="results/{cohort}/coverage.tsv",
        coverage=expand("results/{cohort}/coverage.tsv", cohort=COHORTS),
        gmt=config["genesets"]["gmt"],
        aliases=config["genesets"]["aliases"],
        evidence=config["genesets"]["evidence"],
    output:
        statistics="results/{cohort}/genes/statistics.tsv",
        drivers="results/{cohort}/genes/drivers.tsv",
    log:
        "logs/genes/{cohort}.log",
    group:
        "screen"
    conda:
        "../envs/ferroscope.yaml"
    resources:
        mem_mb=lambda wc, input: resource(
            "genes", "mem_mb", 1500 + 6 * input_mb(input, "h5ad")
        ),
        runtime=lambda wc: resource("genes", "runtime", 30),
    params:
        mode=config["genes"],
        endpoints=config["survival"]["endpoints"],
        min_events=config["survival"]["min_events"],
        min_per_class=config["response"]["min_per_class"],
        arm=lambda wc: response_arm(wc.cohort) if has_response(wc.cohort) else None,
        method=config["scoring"]["primary"],
        options=config["scoring"].get(config["scoring"]["primary"], {}),
        chunk_size=config["scoring"]["chunk_size"],
        missing=config["scoring"]["missing"],
        min_genes=config["genesets"]["min_genes"],
    script:
        "../scripts/genes.py"
