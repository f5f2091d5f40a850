rule fetch:
    """Download one public file (streamed, retried, resumed, gzip-checked, sha256 manifest)."""
    output:
        "resources/cohorts/{cohort}/download/{file}",
    log:
        "logs/fetch/{cohort}/{file}.log",
    wildcard_constraints:
        cohort=downloaded_cohorts(),
    retries: 1
    conda:
        "../envs/ferroscope.yaml"
    params:
        url=lambda wc: downloads(wc.cohort)[wc.file],
        download=config["download"],
        mirrors=config["mirrors"],
    script:
        "../scripts/fetch.py"


rule cohort_source:
    """Any assembled source (ferroscope.sources: demo, geo, tcga) -> raw expression + clinical."""
    input:
        unpack(assembly_inputs),
    output:
        expression="resources/cohorts/{cohort}/expression.tsv.gz",
        clinical="resources/cohorts/{cohort}/clinical.tsv",
        # mapping records of the assembly (GEO: samples.keep counts), shown in the report
        records="resources/cohorts/{cohort}/selection.json",
    log:
        "logs/cohort_source/{cohort}.log",
    wildcard_constraints:
        cohort=assembled_cohorts(),
    group:
        "cohort"
    conda:
        "../envs/ferroscope.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc: resource(
            "cohort_source", "mem_mb", source_of(wc.cohort).mem_mb
        ),
        runtime=lambda wc: resource(
            "cohort_source", "runtime", source_of(wc.cohort).runtime_min
        ),
    params:
        cohort=lambda wc: sources.assembly_config(cohort_cfg(wc)),
        # a new version of the source's assembly re-assembles the cohort
        version=lambda wc: source_of(wc.cohort).version,
    script:
        "../scripts/cohort_source.py"
