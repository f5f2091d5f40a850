"""Build results/report.html from the statistics table and the per-cohort outputs."""

import datetime as dt
import json

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)
import anndata as ad
import pandas as pd

from ferroscope import provenance
from ferroscope.genesets import read_genes_table
from ferroscope.io import atomic_open
from ferroscope.logs import step_logging
from ferroscope.report import CohortData, render

cfg = snakemake.params.config
with step_logging(snakemake.log[0], "report") as log:
    stats = pd.read_csv(snakemake.input.statistics, sep="\t")
    cohorts, inputs = [], []
    methods = list(cfg["scoring"]["methods"])
    score_files = iter(snakemake.input.scores)  # cohort-major, then method (rule order)
    for h5ad, cov in zip(snakemake.input.h5ad, snakemake.input.coverage, strict=True):
        adata = ad.read_h5ad(h5ad, backed="r")
        cid = str(adata.uns["cohort"])
        prov = json.loads(adata.uns["provenance"])
        inputs += [{**f, "role": f"{cid}: {f['role']}"} for f in prov["inputs"]]
        scores = {m: pd.read_csv(next(score_files), sep="\t", index_col="sample_id")
                  for m in methods}
        cohorts.append(CohortData(
            cohort=cid, clinical=adata.obs.copy(), coverage=pd.read_csv(cov, sep="\t"),
            scores=scores, description=str(adata.uns.get("description", "")),
            platform=str(adata.uns.get("platform", "")), n_genes=adata.n_vars,
            prepare_notes=json.loads(adata.uns["prepare"]), provenance=prov,
            clinical_mapping=json.loads(adata.uns.get("clinical_mapping", "[]")),
            response_arm=snakemake.params.response_arms[cid]))
    inputs += [provenance.file_record(snakemake.input.gmt, "gene sets (GMT)"),
               provenance.file_record(snakemake.input.genes_table, "gene set curation table")]
    page = render(stats, cohorts, cfg,
                  genesets=read_genes_table(snakemake.input.genes_table).to_dict("records"),
                  inputs=inputs, software=provenance.versions(),
                  created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    with atomic_open(snakemake.output[0], "w", encoding="utf-8") as fh:
        fh.write(page)
    log.info("report: %d cohorts, %.1f MB", len(cohorts), len(page.encode()) / 1e6)
