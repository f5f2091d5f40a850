rule prepare:
    """Raw expression + clinical -> AnnData (HGNC symbols, log2) with the standard clinical table."""
    input:
        unpack(raw_inputs),
        aliases=config["genesets"]["aliases"],
    output:
        h5ad="results/{cohort}/prepared.h5ad",
        clinical="results/{cohort}/clinical.tsv",
    log:
        "logs/prepare/{cohort}.log",
    group:
        "cohort"
    conda:
        "../envs/ferroscope.yaml"
    threads: 1
    resources:
        mem_mb=prepare_mem_mb,
        runtime=lambda wc, input: runtime_min(
            "prepare", 15, 0.5, input_mb(input, "expression")
        ),
    params:
        cohort=cohort_cfg,
    script:
        "../scripts/prepare.py"
