# Two tiers (docs/statistics-engine.md): every scored set gets the screening statistics
# (survival_screen, response_screen); this aggregate computes the BH q as statistics.tsv will
# and picks the detail tier, which the survival and response rules then compute.


rule detail_selection:
    """The sets of the detail tier: q < statistics.detail.q, the statistics.detail.top smallest
    p per cohort x method x endpoint, and every set of the shipped curated GMT."""
    input:
        survival=per_cohort_method(
            "results/{cohort}/screen/survival_{method}.tsv",
            cohorts=[c for c in COHORTS if has_survival(c)],
        ),
        response=per_cohort_method(
            "results/{cohort}/screen/response_{method}.tsv",
            cohorts=[c for c in COHORTS if has_response(c)],
        ),
        curated=str(FERROSCOPE_ROOT / "resources" / "genesets" / "ferroptosis.gmt"),
    output:
        "results/detail_selection.tsv",
    log:
        "logs/detail_selection.log",
    conda:
        "../envs/ferroscope.yaml"
    params:
        meta_method=config["statistics"]["meta"]["method"],
        q=config["statistics"]["detail"]["q"],
        top=config["statistics"]["detail"]["top"],
    script:
        "../scripts/detail_selection.py"
