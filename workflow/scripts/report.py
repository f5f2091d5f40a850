"""Build results/report.html from the statistics table and the per-cohort outputs."""

import datetime as dt
import json

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)
import pandas as pd

from ferroscope import provenance, tissue
from ferroscope.checks import (
    read_coverage,
    read_gene_drivers,
    read_h5ad,
    read_scores,
    read_statistics,
)
from ferroscope.genesets import read_genes_table
from ferroscope.io import atomic_open
from ferroscope.logs import step_logging
from ferroscope.report import CohortData, Section, download_records, render
from ferroscope.report_genes import genes_body
from ferroscope.report_tissue import TissueData
from ferroscope.report_tissue import section as tissue_section
from ferroscope.signatures import load_risk_data

cfg = snakemake.params.config
with step_logging(snakemake.log[0], "report") as log:
    stats = read_statistics(snakemake.input.statistics)
    cohorts, inputs = [], []
    methods = list(cfg["scoring"]["methods"])
    score_files = iter(snakemake.input.scores)  # cohort-major, then method (rule order)
    for h5ad, cov in zip(snakemake.input.h5ad, snakemake.input.coverage, strict=True):
        adata = read_h5ad(h5ad, backed=True)
        cid = str(adata.uns["cohort"])
        prov = json.loads(adata.uns["provenance"])
        inputs += [{**f, "role": f"{cid}: {f['role']}"} for f in prov["inputs"]]
        scores = {m: read_scores(next(score_files), adata.obs_names) for m in methods}
        cohorts.append(CohortData(
            cohort=cid, clinical=adata.obs.copy(), coverage=read_coverage(cov),
            scores=scores, description=str(adata.uns.get("description", "")),
            platform=str(adata.uns.get("platform", "")), n_genes=adata.n_vars,
            prepare_notes=json.loads(adata.uns["prepare"]), provenance=prov,
            clinical_mapping=json.loads(adata.uns.get("clinical_mapping", "[]")),
            response_arm=snakemake.params.response_arms[cid]))
    inputs += [provenance.file_record(snakemake.input.gmt, "gene sets (GMT)"),
               provenance.file_record(snakemake.input.genes_table, "gene set curation table")]
    scoring_runs = []
    for path in snakemake.input.score_records:
        with open(path, encoding="utf-8") as fh:
            scoring_runs.append(json.load(fh))
    downloads = [rec for cid, files in snakemake.params.downloads.items()
                 for rec in download_records(cid, files)]
    tissue_data = []
    for h5ad, path in zip(snakemake.input.tissue_h5ad, snakemake.input.tissue_scores,
                          strict=True):
        t = read_h5ad(h5ad, backed=True)
        tissue_data.append(TissueData(str(t.uns["cohort"]),
                                      t.obs[[tissue.GROUP, tissue.PAIR]].copy(),
                                      read_scores(path, t.obs_names)))
    # gene level (ferroscope.report_genes): its own section; the rest sees no gene rows
    drivers = [d for d in map(read_gene_drivers, snakemake.input.gene_drivers) if len(d)]
    curated = read_genes_table(snakemake.input.genes_table)
    genes = Section("genes", "Genes", genes_body(
        stats, pd.concat(drivers) if drivers else pd.DataFrame(),
        primary=cfg["scoring"].get("primary", methods[0]), curated_sets=list(curated["set"]),
        seeds=list(curated["symbol"]), coverage=pd.concat([d.coverage for d in cohorts])),
        after="response")
    stats = stats[~stats["analysis"].astype(str).str.startswith("gene_")]
    page = render(stats, cohorts, cfg, downloads=downloads, sections=[genes],
                  tissue=tissue_section(stats, tissue_data,
                                        cfg["scoring"].get("primary", methods[0])),
                  scoring_runs=scoring_runs,
                  genesets=curated.to_dict("records"),
                  inputs=inputs, software=provenance.versions(),
                  created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                  risk=load_risk_data(snakemake.input, cohorts,
                                      snakemake.params.models_not_trained))
    with atomic_open(snakemake.output[0], "w", encoding="utf-8") as fh:
        fh.write(page)
    log.info("report: %d cohorts, %.1f MB", len(cohorts), len(page.encode()) / 1e6)
