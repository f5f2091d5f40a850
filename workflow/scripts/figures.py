"""Static PNG/SVG figures beside the report (forest, Kaplan-Meier, ROC)."""

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)

from ferroscope import figures
from ferroscope.checks import read_clinical, read_scores, read_statistics
from ferroscope.logs import step_logging

out = snakemake.output
with step_logging(snakemake.log[0], f"figure {snakemake.rule}"):
    # by wildcard, not rule name: a workflow using ferroscope as a module may prefix rule names
    if hasattr(snakemake.wildcards, "analysis"):  # rule figure_forest
        stats = read_statistics(snakemake.input[0])
        figures.forest(stats, snakemake.wildcards.method, snakemake.wildcards.analysis,
                       out.png, out.svg)
    else:
        stats = read_statistics(snakemake.input.stats)
        clin = read_clinical(snakemake.input.clinical)
        scores = read_scores(snakemake.input.scores, clin.index)
        args = (clin, scores, stats, snakemake.wildcards.cohort, snakemake.params.method,
                out.png, out.svg)
        if snakemake.wildcards.kind == "km":
            figures.km_panels(*args)
        else:
            figures.roc_panels(*args, arm=snakemake.params.response_arm)
