"""Tumour and comparison (adjacent non-tumour) samples of one cohort -> one AnnData, harmonised
as the prepare step does; obs holds each sample's group and patient key (ferroscope.tissue)."""

import json
from pathlib import Path

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)

from ferroscope import prepare, provenance, tissue
from ferroscope.io import read_table
from ferroscope.logs import log_provenance, step_logging

cohort_id = snakemake.wildcards.cohort
cfg = snakemake.params.cohort
with step_logging(snakemake.log[0], "tissue_prepare") as log:
    prov = provenance.record({"expression": snakemake.input.expression,
                              "clinical": snakemake.input.clinical}, params=cfg)
    log_provenance(log, prov)
    local = cfg["source"] == "local"
    raw = prepare.read_expression(snakemake.input.expression,
                                  what=f"expression matrix of cohort {cohort_id}",
                                  field=f"cohorts.{cohort_id}.expression" if local else None)
    clin_raw = read_table(snakemake.input.clinical, what=f"clinical table of cohort {cohort_id}",
                          field=f"cohorts.{cohort_id}.clinical_table" if local else None)
    records = (json.loads(Path(snakemake.input.records).read_text())
               if "records" in snakemake.input.keys() else [])
    raw, groups, records = tissue.comparison_samples(
        raw, clin_raw, records, cfg, source=snakemake.input.clinical, cid=cohort_id)
    missing_key = (f"cohorts.{cohort_id}.missing" if "missing" in cfg else "missing")
    expr, notes = prepare.harmonise_expression(
        raw, scale=cfg["expression_scale"], source=snakemake.input.expression,
        missing=snakemake.params.missing, missing_key=missing_key)
    adata = prepare.build_anndata(expr, groups, notes, cohort=cohort_id,
                                  source=snakemake.input.clinical, provenance=prov)
    adata.uns["clinical_mapping"] = json.dumps(records)
    adata.uns["description"] = cfg.get("description", "")
    log.info("%s: %s; %s", cohort_id, adata.obs[tissue.GROUP].value_counts().to_dict(),
             records)
    prepare.write_h5ad(adata, snakemake.output.h5ad)
