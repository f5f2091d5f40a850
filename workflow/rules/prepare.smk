rule demo_cohort:
    """Generate the synthetic demo cohort (deterministic; planted effects in ferroscope.demo)."""
    input:
        gmt=config["genesets"]["gmt"],
        aliases=config["genesets"]["aliases"],
    output:
        expression="resources/cohorts/{cohort}/expression.tsv.gz",
        clinical="resources/cohorts/{cohort}/clinical.tsv",
    log:
        "logs/demo_cohort/{cohort}.log",
    wildcard_constraints:
        cohort=cohorts_of("demo"),
    group:
        "cohort"
    conda:
        "../envs/ferroscope.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc: resource("demo_cohort", "mem_mb", 2000),
        runtime=lambda wc: resource("demo_cohort", "runtime", 15),
    params:
        demo=lambda wc: cohort_cfg(wc).get("demo", {}),
        # a new generator version regenerates the cohort (params changes trigger reruns)
        generator=DEMO_GENERATOR_VERSION,
    script:
        "../scripts/demo_cohort.py"


rule prepare:
    """Raw expression + clinical -> AnnData (log scale, missing-value policy) + standard clinical table."""
    input:
        expression=raw_expression,
        clinical=raw_clinical,
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
