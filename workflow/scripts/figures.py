"""Static PNG/SVG figures beside the report (forest, Kaplan-Meier, ROC)."""

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)
import pandas as pd

from ferroscope import figures
from ferroscope.logs import step_logging

out = snakemake.output
with step_logging(snakemake.log[0], f"figure {snakemake.rule}"):
    if snakemake.rule == "figure_forest":
        stats = pd.read_csv(snakemake.input[0], sep="\t")
        figures.forest(stats, snakemake.wildcards.method, snakemake.wildcards.analysis,
                       out.png, out.svg)
    else:
        stats = pd.read_csv(snakemake.input.stats, sep="\t")
        clin = pd.read_csv(snakemake.input.clinical, sep="\t", index_col="sample_id")
        scores = pd.read_csv(snakemake.input.scores, sep="\t", index_col="sample_id")
        args = (clin, scores, stats, snakemake.wildcards.cohort, snakemake.params.method,
                out.png, out.svg)
        if snakemake.wildcards.kind == "km":
            figures.km_panels(*args)
        else:
            figures.roc_panels(*args, arm=snakemake.params.response_arm)
