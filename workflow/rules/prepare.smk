rule prepare:
    """Raw expression + clinical -> AnnData (log scale, missing-value policy) + standard clinical table."""
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
        # cohort `missing:` overrides the global one
        missing=lambda wc: {**config["missing"], **cohort_cfg(wc).get("missing", {})},
    script:
        "../scripts/prepare.py"
