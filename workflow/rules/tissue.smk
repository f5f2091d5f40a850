# Tumour vs adjacent non-tumour (docs/tissue.md): cohorts declaring a comparison group
# (samples.compare, or demo.n_nontumour) get both groups prepared and scored together in
# results/{cohort}/tissue/, tested per set x method and per seed gene (ferroscope.tissue).


rule tissue_prepare:
    """Tumour and comparison samples of one cohort -> one AnnData (groups and pairs in obs)."""
    input:
        unpack(raw_inputs),
        aliases=config["genesets"]["aliases"],
    output:
        h5ad="results/{cohort}/tissue/prepared.h5ad",
    log:
        "logs/tissue_prepare/{cohort}.log",
    wildcard_constraints:
        cohort=cohort_pattern(TISSUE_COHORTS),
    group:
        "tissue"
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
        missing=lambda wc: {**config["missing"], **cohort_cfg(wc).get("missing", {})},
    script:
        "../scripts/tissue_prepare.py"


rule tissue_coverage:
    """Gene coverage of every set in the tumour + non-tumour matrix."""
    input:
        h5ad="results/{cohort}/tissue/prepared.h5ad",
        gmt=config["genesets"]["gmt"],
        aliases=config["genesets"]["aliases"],
    output:
        "results/{cohort}/tissue/coverage.tsv",
    log:
        "logs/tissue_coverage/{cohort}.log",
    wildcard_constraints:
        cohort=cohort_pattern(TISSUE_COHORTS),
    group:
        "tissue"
    conda:
        "../envs/ferroscope.yaml"
    params:
        min_genes=config["genesets"]["min_genes"],
        min_coverage=config["genesets"]["min_coverage"],
    script:
        "../scripts/coverage.py"


rule tissue_score:
    """Score tumour and non-tumour samples in one matrix (scores are relative to them)."""
    input:
        h5ad="results/{cohort}/tissue/prepared.h5ad",
        coverage="results/{cohort}/tissue/coverage.tsv",
        gmt=config["genesets"]["gmt"],
        aliases=config["genesets"]["aliases"],
    output:
        scores="results/{cohort}/tissue/scores/{method}.tsv",
        record="results/{cohort}/tissue/scores/{method}.json",
    log:
        "logs/tissue_score/{cohort}_{method}.log",
    wildcard_constraints:
        cohort=cohort_pattern(TISSUE_COHORTS),
    group:
        "tissue"
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


rule tissue_compare:
    """Tumour vs non-tumour per set x method and per seed gene (paired where pairs exist)."""
    input:
        h5ad="results/{cohort}/tissue/prepared.h5ad",
        scores=expand("results/{{cohort}}/tissue/scores/{method}.tsv", method=METHODS),
        genes_table=config["genesets"]["evidence"],
        aliases=config["genesets"]["aliases"],
    output:
        "results/{cohort}/tissue/statistics.tsv",
    log:
        "logs/tissue_compare/{cohort}.log",
    wildcard_constraints:
        cohort=cohort_pattern(TISSUE_COHORTS),
    group:
        "tissue"
    conda:
        "../envs/ferroscope.yaml"
    params:
        methods=METHODS,
    script:
        "../scripts/tissue_compare.py"


rule tissue_statistics:
    """Every cohort's comparison, pooled (random effects on Hedges' g), with its own BH FDR."""
    input:
        expand("results/{cohort}/tissue/statistics.tsv", cohort=TISSUE_COHORTS),
    output:
        "results/tissue/statistics.tsv",
    log:
        "logs/tissue_statistics.log",
    conda:
        "../envs/ferroscope.yaml"
    params:
        meta_method=config["statistics"]["meta"]["method"],
    script:
        "../scripts/tissue_statistics.py"
