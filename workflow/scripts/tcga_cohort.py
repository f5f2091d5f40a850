"""Assemble TCGA: Xena matrix (Ensembl x samples) + probemap + TCGA-CDR -> expression, clinical."""

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)
import pandas as pd

from ferroscope.io import write_tsv
from ferroscope.logs import step_logging
from ferroscope.prepare import read_expression
from ferroscope.sources import tcga

cfg = snakemake.params.cohort
with step_logging(snakemake.log[0], "tcga_cohort") as log:
    matrix = read_expression(snakemake.input.expression, what="Xena expression matrix")
    probemap = pd.read_csv(snakemake.input.probemap, sep="\t", dtype=str)
    expr = tcga.xena_expression(matrix, probemap, snakemake.input.expression)
    cdr = tcga.read_cdr(snakemake.input.cdr, cfg["cancer_type"])
    if "gdc_clinical" in snakemake.input.keys():
        gdc = tcga.read_gdc_clinical(snakemake.input.gdc_clinical)
        cdr = cdr.merge(gdc, on="bcr_patient_barcode", how="left")
        log.info("GDC clinical: %d patients, %d of them in TCGA-CDR; stage groups %s",
                 len(gdc), int(cdr["bcr_patient_barcode"].isin(gdc["bcr_patient_barcode"]).sum()),
                 cdr.get("gdc_stage_group", pd.Series(dtype=str)).value_counts().to_dict())
    log.info("%s: %d primary tumours of %d samples; %d genes; TCGA-CDR %d patients",
             cfg["project"], expr.shape[1], matrix.shape[1], expr.shape[0], len(cdr))
    expr.index.name = "gene"
    write_tsv(expr, snakemake.output.expression, index=True)
    write_tsv(cdr, snakemake.output.clinical)
