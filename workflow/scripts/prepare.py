"""Raw expression + clinical table -> prepared AnnData and standard clinical table."""

import json
from pathlib import Path

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)

from ferroscope import prepare, provenance, tissue
from ferroscope.clinical import standardise_clinical
from ferroscope.expression import harmonise_expression, read_expression
from ferroscope.genesets import AliasTable
from ferroscope.io import read_table, write_tsv
from ferroscope.logs import log_provenance, step_logging

cohort_id = snakemake.wildcards.cohort
cfg = snakemake.params.cohort
with step_logging(snakemake.log[0], "prepare") as log:
    prov = provenance.record({"expression": snakemake.input.expression,
                              "clinical": snakemake.input.clinical,
                              "aliases": snakemake.input.aliases}, params=cfg)
    log_provenance(log, prov)
    local = cfg["source"] == "local"  # then config names the files themselves
    raw = read_expression(snakemake.input.expression,
                          what=f"expression matrix of cohort {cohort_id}",
                          field=f"cohorts.{cohort_id}.expression" if local else None)
    # the alias table is checked here (cycles stop the run) but never applied to matrix rows
    AliasTable.read(snakemake.input.aliases)
    clin_raw = read_table(snakemake.input.clinical, what=f"clinical table of cohort {cohort_id}",
                          field=f"cohorts.{cohort_id}.clinical_table" if local else None,
                          sheet=cfg.get("clinical_sheet"))
    workbook = clin_raw.attrs.get("workbook", "")  # which sheet of an Excel table was read
    # per clinical mapping: samples kept and dropped (shown in the report's cohort table)
    # (an assembled source adds its own, e.g. GEO's samples.keep; a local cohort has none)
    records = (json.loads(Path(snakemake.input.records).read_text())
               if "records" in snakemake.input.keys() else [])
    # tumours only: a declared tumour/non-tumour comparison is the tissue step's (tissue.smk)
    raw, clin_raw, records = tissue.tumour_only(raw, clin_raw, records, cfg,
                                                source=snakemake.input.clinical, cid=cohort_id)
    missing_key = (f"cohorts.{cohort_id}.missing" if "missing" in cfg else "missing")
    expr, notes = harmonise_expression(
        raw, scale=cfg["expression_scale"], source=snakemake.input.expression,
        missing=snakemake.params.missing, missing_key=missing_key,
        limits=cfg.get("expression_limits"), cohort=cohort_id)
    notes.clinical_workbook = workbook
    if notes.clinical_workbook:
        log.info("%s: clinical table read from %s", cohort_id, notes.clinical_workbook)
    clinical = standardise_clinical(clin_raw, cfg["clinical"], source=snakemake.input.clinical,
                                    cohort=cohort_id)
    adata = prepare.build_anndata(
        expr, clinical, notes, cohort=cohort_id, source=snakemake.input.clinical,
        provenance=prov, clinical_mapping=records + clinical.attrs.get("mapping", []),
        description=cfg.get("description", ""), platform=cfg.get("platform", ""))
    log.info("%s: %d samples x %d genes; %s", cohort_id, adata.n_obs, adata.n_vars,
             notes.scale_detected)
    prepare.write_h5ad(adata, snakemake.output.h5ad)
    write_tsv(adata.obs.reset_index(), snakemake.output.clinical)
