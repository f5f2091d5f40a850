rule fetch:
    """Download one public file (streamed, retried, resumed, gzip-checked, sha256 manifest)."""
    output:
        "resources/cohorts/{cohort}/download/{file}",
    log:
        "logs/fetch/{cohort}/{file}.log",
    wildcard_constraints:
        cohort=cohorts_of("geo", "tcga"),
    retries: 1
    conda:
        "../envs/ferroscope.yaml"
    params:
        url=lambda wc: downloads(wc.cohort)[wc.file],
        download=config["download"],
        mirrors=config["mirrors"],
    script:
        "../scripts/fetch.py"


rule geo_cohort:
    """GEO series matrix + platform table (+ clinical supplement) -> expression and clinical."""
    input:
        unpack(lambda wc: download_inputs(wc.cohort)),
    output:
        expression="resources/cohorts/{cohort}/expression.tsv.gz",
        clinical="resources/cohorts/{cohort}/clinical.tsv",
        # samples.keep counts (kept / excluded / missing), shown in the report
        selection="resources/cohorts/{cohort}/selection.json",
    log:
        "logs/geo_cohort/{cohort}.log",
    wildcard_constraints:
        cohort=cohorts_of("geo"),
    group:
        "cohort"
    conda:
        "../envs/ferroscope.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc: resource("prepare", "mem_mb", 4000),
        runtime=lambda wc: resource("prepare", "runtime", 20),
    params:
        cohort=cohort_cfg,
    script:
        "../scripts/geo_cohort.py"


rule tcga_cohort:
    """Xena GDC hub matrix + probemap + TCGA-CDR -> expression (tumours) and clinical."""
    input:
        unpack(lambda wc: download_inputs(wc.cohort)),
    output:
        expression="resources/cohorts/{cohort}/expression.tsv.gz",
        clinical="resources/cohorts/{cohort}/clinical.tsv",
    log:
        "logs/tcga_cohort/{cohort}.log",
    wildcard_constraints:
        cohort=cohorts_of("tcga"),
    group:
        "cohort"
    conda:
        "../envs/ferroscope.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc: resource("prepare", "mem_mb", 8000),
        runtime=lambda wc: resource("prepare", "runtime", 30),
    params:
        cohort=cohort_cfg,
    script:
        "../scripts/tcga_cohort.py"
