"""TCGA-LIHC through the workflow against a loopback mirror of the Xena GDC hub and the GDC API.

The TCGA-CDR table is the real file (../shared); the Xena matrix is synthetic (no genome-wide
TCGA-LIHC matrix is available offline: see ../shared/cohorts/TCGA-LIHC/PROVENANCE.md), built in
the Xena layout: versioned Ensembl rows, sample barcodes with tumours (-01A/-01B) and normals
(-11A).
"""

from __future__ import annotations

import shutil

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml

from ferroscope.errors import FerroscopeError
from ferroscope.sources import tcga

from .conftest import REPO, make_workdir, run_snakemake, shared_path
from .mirror import Mirror

pytestmark = pytest.mark.slow


@pytest.fixture()
def hub(tmp_path):
    cdr_src = shared_path("cohorts", "TCGA-LIHC", "TCGA-CDR-SupplementalTableS1_v2.xlsx")
    cdr = tcga.read_cdr(cdr_src)
    patients = sorted(cdr["bcr_patient_barcode"])[:40]
    rng = np.random.default_rng(0)
    genes = ["SLC7A11", "GPX4", "NQO1", "HMOX1", "GCLC", "GCLM", "GSR", "FTH1", "FTL",
             "SLC40A1", "NFE2L2"] + [f"GENE{i}" for i in range(600)]
    ens = [f"ENSG{i:011d}.{i % 7 + 1}" for i in range(len(genes))]
    columns = [f"{p}-01A" for p in patients] + [f"{p}-11A" for p in patients[:5]] + [
        f"{patients[0]}-01B"]
    values = np.log2(rng.gamma(2.0, 20.0, size=(len(genes), len(columns))) + 1)
    matrix = pd.DataFrame(values, index=pd.Index(ens, name="Ensembl_ID"), columns=columns)
    root = tmp_path / "host"
    (root / "xena").mkdir(parents=True)
    (root / "gdc").mkdir()
    matrix.to_csv(root / "xena" / "TCGA-LIHC.star_tpm.tsv.gz", sep="\t")
    pd.DataFrame({"id": ens, "gene": genes, "chrom": "chr1", "chromStart": 1, "chromEnd": 2,
                  "strand": "+"}).to_csv(root / "xena" / "gencode.v36.annotation.gtf.gene.probemap",
                                         sep="\t", index=False)
    fragment = yaml.safe_load((REPO / "workflow" / "schemas" / "sources" / "tcga.schema.yaml")
                              .read_text())
    shutil.copy(cdr_src, root / "gdc" / fragment["properties"]["cdr_file_id"]["default"])
    # the real GDC clinical export (one row per case x diagnosis x treatment)
    shutil.copy(shared_path("cohorts", "TCGA-LIHC", "clinical.tsv.gz"),
                root / "xena" / "TCGA-LIHC.clinical.tsv.gz")
    with Mirror(root) as m:
        yield m, matrix, cdr.set_index("bcr_patient_barcode").loc[patients]


def test_tcga_lihc_through_the_workflow(hub, tmp_path):
    mirror, matrix, cdr = hub
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["mirrors"] = {"xena_gdc": f"{mirror.url}/xena", "gdc_api": f"{mirror.url}/gdc"}
    cfg["scoring"]["methods"] = ["mean_z"]
    cfg["cohorts"] = {"TCGA-LIHC": {
        "source": "tcga", "project": "TCGA-LIHC", "cancer_type": "LIHC",
        "expression_file": "TCGA-LIHC.star_tpm.tsv.gz", "expression_scale": "log2",
        "clinical_file": "TCGA-LIHC.clinical.tsv.gz",
        "clinical": {"sample_id": "bcr_patient_barcode",
                     "covariates": ["gdc_stage_group", "ajcc_pathologic_tumor_stage"],
                     "os_time": {"column": "OS.time", "unit": "days"},
                     "os_event": {"column": "OS", "event_values": [1],
                                  "censor_values": [0]}}}}
    wd = make_workdir(tmp_path / "wd", yaml.safe_dump(cfg))
    res = run_snakemake(wd, "results/TCGA-LIHC/prepared.h5ad")
    assert res.returncode == 0, res.stderr[-4000:]
    adata = ad.read_h5ad(wd / "results/TCGA-LIHC/prepared.h5ad")
    assert adata.n_obs == 40  # one primary tumour per patient; normals dropped
    assert {"SLC7A11", "GPX4", "NQO1"} <= set(adata.var_names)
    first = adata.obs_names[0]
    assert not first.endswith("A") and len(first) == 12  # patient barcodes
    col = matrix[f"{first}-01A"].to_numpy()
    # the h5ad stores float32
    np.testing.assert_allclose(adata[first, "SLC7A11"].X.ravel()[0], col[0], rtol=1e-6)
    want = cdr.loc[list(adata.obs_names), "OS.time"].astype(float) / 30.4375
    np.testing.assert_allclose(adata.obs["os_time_months"].to_numpy(float), want.to_numpy(),
                               rtol=1e-12, equal_nan=True)
    # GDC stage joined on the patient barcode agrees with TCGA-CDR's stage where both exist
    obs = adata.obs
    both = obs["gdc_stage_group"].notna() & obs["ajcc_pathologic_tumor_stage"].astype(
        str).str.match(r"^Stage (IV|I{1,3})")
    cdr_group = obs.loc[both, "ajcc_pathologic_tumor_stage"].astype(str).str.extract(
        r"^Stage (IV|I{1,3})", expand=False)
    assert both.sum() >= 30
    assert (cdr_group == obs.loc[both, "gdc_stage_group"].astype(str)).mean() > 0.9


def test_gdc_clinical_export_parses_to_one_row_per_patient():
    path = shared_path("cohorts", "TCGA-LIHC", "clinical.tsv.gz")
    gdc = tcga.read_gdc_clinical(path)
    raw = pd.read_csv(path, sep="\t", usecols=["cases.submitter_id"])
    assert len(gdc) == raw["cases.submitter_id"].nunique()
    assert gdc["bcr_patient_barcode"].is_unique
    assert set(gdc["gdc_stage_group"].dropna()) <= {"I", "II", "III", "IV"}
    # sorafenib-treated patients agree with the independently derived treatment table
    sora = pd.read_csv(shared_path("cohorts", "TCGA-LIHC",
                                   "derived_TCGA-LIHC_GDC_sorafenib_treatments.tsv"), sep="\t")
    ours = set(gdc.loc[gdc["gdc_agents"].str.contains("Sorafenib", na=False),
                       "bcr_patient_barcode"])
    assert ours == set(sora["cases.submitter_id"])


def test_gdc_clinical_without_a_patient_column_is_named(tmp_path):
    bad = tmp_path / "clinical.tsv"
    bad.write_text("case\tstage\nx\tStage I\n")
    with pytest.raises(FerroscopeError, match="no patient column") as err:
        tcga.read_gdc_clinical(bad)
    assert str(bad) in str(err.value)
