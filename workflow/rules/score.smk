rule coverage:
    """Gene coverage of every set in the cohort, and whether the set is scored."""
    input:
        h5ad="results/{cohort}/prepared.h5ad",
        gmt=config["genesets"]["gmt"],
        aliases=config["genesets"]["aliases"],
    output:
        report(
            "results/{cohort}/coverage.tsv",
            caption="../report/coverage.rst",
            category="Gene coverage",
            labels={"cohort": "{cohort}"},
        ),
    log:
        "logs/coverage/{cohort}.log",
    group:
        "cohort"
    conda:
        "../envs/ferroscope.yaml"
    params:
        min_genes=config["genesets"]["min_genes"],
        min_coverage=config["genesets"]["min_coverage"],
    script:
        "../scripts/coverage.py"


rule score:
    """Score the covered gene sets with one method (samples x sets)."""
    input:
        h5ad="results/{cohort}/prepared.h5ad",
        coverage="results/{cohort}/coverage.tsv",
        gmt=config["genesets"]["gmt"],
        aliases=config["genesets"]["aliases"],
    output:
        scores="results/{cohort}/scores/{method}.tsv",
        record="results/{cohort}/scores/{method}.json",
    log:
        "logs/score/{cohort}_{method}.log",
    conda:
        "../envs/ferroscope.yaml"
    threads: 1
    resources:
        mem_mb=score_mem_mb,
        runtime=lambda wc, input: runtime_min("score", 15, 0.2, input_mb(input, "h5ad")),
    params:
        options=lambda wc: config["scoring"].get(wc.method, {}),
        chunk_size=config["scoring"]["chunk_size"],
        missing=config["scoring"]["missing"],
        min_size=config["genesets"]["min_genes"],
    script:
        "../scripts/score.py"
