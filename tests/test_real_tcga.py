"""Real public data (../shared): TCGA-CDR overall survival x TCGA-LIHC expression subset.

The shared TCGA-LIHC expression is a 3,130-gene subset of raw STAR counts (PROVENANCE.md): no
genome-wide matrix is available offline, so only single genes present in it (SLC7A11, NQO1) are
related to OS here; log2 CPM is computed over that subset (library sizes are therefore partial).
No expected hazard ratio is hard-coded: the fit is checked against R coxph on the same data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferroscope.prepare import standardise_clinical
from ferroscope.survival import cox_per_sd

from .conftest import shared_path
from .rref import run_r

pytestmark = pytest.mark.shared
GENES = {"SLC7A11": "ENSG00000151012", "NQO1": "ENSG00000181019"}
CDR_MAPPING = {"sample_id": "bcr_patient_barcode",
               "os_time": {"column": "OS.time", "unit": "days"},
               "os_event": {"column": "OS", "event_values": [1], "censor_values": [0]}}


@pytest.fixture(scope="module")
def cdr():
    path = shared_path("cohorts", "TCGA-LIHC", "derived_TCGA-LIHC_CDR_survival.tsv")
    raw = pd.read_csv(path, sep="\t")
    return standardise_clinical(raw, CDR_MAPPING, source=str(path), cohort="TCGA-LIHC")


@pytest.fixture(scope="module")
def tumour_expression():
    path = shared_path("cohorts", "TCGA-LIHC", "filtered_expression_matrixX.csv.gz")
    counts = pd.read_csv(path, index_col=0)
    counts.columns = counts.columns.str.replace(".", "-", regex=False)
    counts.index = counts.index.str.split(".").str[0]           # strip Ensembl versions
    primary = [c for c in counts.columns if c[13:15] == "01"]   # primary tumour aliquots
    cpm = np.log2(counts[primary] / counts[primary].sum() * 1e6 + 1)
    cpm.columns = [c[:12] for c in primary]                     # patient barcode
    return cpm.loc[:, ~cpm.columns.duplicated()]


def test_cdr_survival_parses_to_377_patients_in_months(cdr):
    assert len(cdr) == 377 and cdr["sample_id"].is_unique
    ok = cdr.dropna(subset=["os_time_months"])
    assert len(ok) == 376                                       # one patient lacks OS.time
    assert int(cdr["os_event"].sum()) == 132
    assert ok["os_time_months"].max() == pytest.approx(3675 / 30.4375)


@pytest.mark.parametrize("gene", sorted(GENES))
def test_single_gene_cox_on_tcga(cdr, tumour_expression, gene, tmp_path):
    expr = tumour_expression.loc[GENES[gene]]
    clin = cdr.set_index("sample_id").reindex(expr.index)
    r = cox_per_sd(clin["os_time_months"], clin["os_event"], expr, n_boot=100)
    print(f"\nTCGA-LIHC {gene}: n = {r.n}, events = {r.events}, HR per SD = {r.hr:.3f} "
          f"(95% CI {r.ci_low:.3f}-{r.ci_high:.3f}), Wald p = {r.p_wald:.3g}, "
          f"LR p = {r.p_lr:.3g}, C = {r.c_index:.3f}, PH p = {r.ph_p:.3g}, "
          f"maxstat p = {r.maxstat_p:.3g}, 3-year AUC = {r.td_auc_36:.3f}")
    assert r.status == "ok" and r.n >= 360 and r.events >= 120
    assert r.ci_low < r.hr < r.ci_high
    d = pd.DataFrame({"time": clin["os_time_months"], "event": clin["os_event"],
                      "x": expr}).dropna()
    d.to_csv(tmp_path / "d.tsv", sep="\t", index=False)
    run_r("""suppressMessages(library(survival)); d <- read.delim("d.tsv")
d$z <- (d$x - mean(d$x)) / sd(d$x)
f <- coxph(Surv(time, event) ~ z, data = d, ties = "efron")
write.table(data.frame(coef = coef(f), se = sqrt(diag(vcov(f)))), "r.tsv", sep = "\\t",
            quote = FALSE, row.names = FALSE)""", tmp_path, "survival")
    want = pd.read_csv(tmp_path / "r.tsv", sep="\t").iloc[0]
    assert r.log_hr == pytest.approx(want.coef, rel=1e-6)
    assert r.se_log_hr == pytest.approx(want.se, rel=1e-6)
