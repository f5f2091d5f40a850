"""Published signatures: shipped files, scoring arithmetic, missing-gene bound, bad files; and the
risk-signature stage of the demo workflow (planted multi-gene risk recovered and validated)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ferroscope import demo
from ferroscope.errors import FerroscopeError
from ferroscope.genesets import AliasTable
from ferroscope.signatures import (
    Signature,
    evaluate,
    missing_share,
    read_signature,
    score_signature,
    signature_cutpoint,
)

from .conftest import REPO

SIGS = REPO / "resources" / "signatures"
LIANG = {"GPX4": 0.135, "G6PD": 0.116, "CISD1": 0.106, "SLC7A11": 0.105, "ACACA": 0.092,
         "NFS1": 0.087, "SLC1A5": 0.077, "CARS1": 0.076, "NQO1": 0.006, "ACSL3": 0.005}
ZHANG = {"SLC7A11": 0.1668, "CARS1": 0.1515, "SLC1A5": 0.1507, "RPL8": 0.0234, "TFRC": 0.0221}


@pytest.mark.parametrize("file,want", [("liang2020_ijbs.tsv", LIANG),
                                       ("zhang2022_fmolb.tsv", ZHANG)])
def test_shipped_signatures_carry_the_issue_coefficients(file, want):
    sig = read_signature(SIGS / file, AliasTable.read(REPO / "resources/genesets/aliases.tsv"))
    assert sig.coefficients.to_dict() == want
    assert sig.scale == "log2" and sig.cutoff == "cohort_median"
    for key in ("citation", "coefficients_source", "checked"):
        assert len(str(sig.meta[key])) > 10


def _expr(rng: np.random.Generator, genes: list[str], n: int = 40) -> pd.DataFrame:
    return pd.DataFrame(rng.normal(6, 1, (len(genes), n)), index=genes,
                        columns=[f"S{i}" for i in range(n)])


def test_score_is_the_weighted_sum_in_the_declared_scale():
    rng = np.random.default_rng(1)
    expr = _expr(rng, ["A", "B", "C", "D"])
    coefs = pd.Series({"A": 0.5, "B": -0.25, "C": 0.1})
    sig = Signature("S", coefs, {"scale": "log2", "cutoff": "cohort_median"})
    res = score_signature(expr, sig, max_missing_share=0.0)
    want = 0.5 * expr.loc["A"] - 0.25 * expr.loc["B"] + 0.1 * expr.loc["C"]
    np.testing.assert_allclose(res.risk, want, rtol=1e-12)
    assert signature_cutpoint(sig, res.risk) == pytest.approx(float(np.median(want)))
    zsig = Signature("Z", coefs, {"scale": "zscore", "cutoff": 0.3})
    z = expr.sub(expr.mean(axis=1), axis=0).div(expr.std(axis=1, ddof=0), axis=0)
    np.testing.assert_allclose(score_signature(expr, zsig, max_missing_share=0.0).risk,
                               0.5 * z.loc["A"] - 0.25 * z.loc["B"] + 0.1 * z.loc["C"],
                               atol=1e-12)
    assert signature_cutpoint(zsig, res.risk) == 0.3


def test_missing_share_bound_decides_scoring():
    rng = np.random.default_rng(2)
    expr = _expr(rng, ["A", "B", "C"])
    expr.loc["C"] = 5.0                                  # constant: counts as missing
    coefs = pd.Series({"A": 0.6, "B": 0.2, "C": -0.1, "E": 0.1})
    assert missing_share(coefs, ["C", "E"]) == pytest.approx(0.2)
    sig = Signature("S", coefs, {"scale": "log2", "cutoff": "cohort_median"})
    ok = score_signature(expr, sig, max_missing_share=0.2)
    assert ok.scored and ok.missing == ["C", "E"] and "missing: C, E" in ok.reason
    no = score_signature(expr, sig, max_missing_share=0.19)
    assert not no.scored and no.risk.empty
    assert "20.0%" in no.reason and "C, E" in no.reason and "max_missing_share" in no.reason


def test_evaluate_reports_unscored_signature_as_not_tested():
    rng = np.random.default_rng(3)
    expr = _expr(rng, ["A", "B"], n=60)
    clin = pd.DataFrame({"os_time_months": rng.uniform(1, 60, 60),
                         "os_event": rng.integers(0, 2, 60).astype(float)}, index=expr.columns)
    sig = Signature("S", pd.Series({"A": 0.5, "X": 0.5}),
                    {"scale": "log2", "cutoff": "cohort_median", "endpoint": "os"})
    t = evaluate({"c1": (expr, clin)}, [sig], max_missing_share=0.2, n_boot=0)
    row = t.statistics.iloc[0]
    assert row["status"] == "not tested" and "X" in row["note"]
    assert t.scores.empty and not bool(t.coverage["scored"].iloc[0])


BAD = [
    ("# name: S\n# citation: c\n# endpoint: os\n# scale: log2\n# cutoff: cohort_median\n"
     "# checked: x\ngene\tcoefficient\nA\t1\n", "coefficients_source", "# coefficients_source"),
    ("# name: S\n# citation: c\n# endpoint: os\n# scale: linear\n# cutoff: cohort_median\n"
     "# coefficients_source: t\n# checked: x\ngene\tcoefficient\nA\t1\n", "scale",
     "expression scale"),
    ("# name: S\n# citation: c\n# endpoint: os\n# scale: log2\n# cutoff: cohort_median\n"
     "# coefficients_source: t\n# checked: x\ngene\tcoefficient\nA\tone\n", "coefficient",
     "GENE<TAB>number"),
    ("# name: S\n# citation: c\n# endpoint: os\n# scale: log2\n# cutoff: cohort_median\n"
     "# coefficients_source: t\n# checked: x\ngene\tcoefficient\nNRF2\t1\nNFE2L2\t2\n", "gene",
     "one row per gene"),
]


@pytest.mark.bad_input
@pytest.mark.parametrize("text,field,fix", BAD)
def test_bad_signature_file_is_named_with_field_and_fix(tmp_path, text, field, fix):
    path = tmp_path / "sig.tsv"
    path.write_text(text)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(FerroscopeError) as err:
        read_signature(path, AliasTable.read(REPO / "resources/genesets/aliases.tsv"))
    msg = str(err.value)
    assert str(path) in msg and f"field '{field}'" in msg and "Fix:" in msg and fix in msg
    assert sorted(p.name for p in tmp_path.iterdir()) == before      # nothing written


# --- the demo workflow: planted multi-gene risk recovered, validated; null stays null ---

@pytest.fixture(scope="module")
def risk_stats(demo_run):
    s = pd.read_csv(demo_run / "results" / "statistics.tsv", sep="\t")
    return s[s["method"] == "signature"].set_index(["cohort", "set"])


@pytest.mark.slow
def test_demo_model_recovers_planted_genes_and_signs(demo_run):
    coef = pd.read_csv(demo_run / "results/models/DEMO_LASSO/coefficients.tsv", sep="\t")
    coef = coef.set_index("gene")["coefficient"]
    for gene, beta in demo.PLANTED_RISK.items():
        assert gene in coef.index and np.sign(coef[gene]) == np.sign(beta), gene
    summary = json.loads((demo_run / "results/models/DEMO_LASSO/model.json").read_text())
    assert summary["lambda_1se"] > summary["lambda_min"] > 0
    assert summary["selected"] == "lambda_min" and summary["seed"] == 12
    # repeated CV: the planted genes are chosen whatever the fold split
    assert summary["cv_repeats"] == 10 and len(summary["lambda_min_repeats"]) == 10
    sel = pd.read_csv(demo_run / "results/models/DEMO_LASSO/selection.tsv", sep="\t")
    sel = sel.set_index("gene")["selection_frequency"]
    assert sel[list(demo.PLANTED_RISK)].min() >= 0.9


@pytest.mark.slow
def test_demo_model_validates_locked_and_null_stays_null(risk_stats):
    val = risk_stats.loc[("demo_validation", "DEMO_LASSO")]
    assert val["role"] == "validation" and val["analysis"] == "cox_hr_per_sd"
    assert val["c_index"] > 0.6 and val["c_index_ci_low"] > 0.5
    assert val["td_auc_36"] > 0.6 and val["ci_low"] > 1 and val["hr_high_low_ci_low"] > 1
    # calibration: the LASSO's shrunken predictions are too compressed (slope > 1); with
    # within-cohort scaling the 3-year O/E covers 1
    assert 1 < val["calib_slope_ci_low"] < val["calib_slope"] < val["calib_slope_ci_high"]
    assert val["calib_oe_36_ci_low"] < 1 < val["calib_oe_36_ci_high"]
    train = risk_stats.loc[("demo", "DEMO_LASSO")]
    assert train["analysis"] == "cox_hr_per_sd_training" and "optimistic" in train["note"]
    assert ("pooled", "DEMO_LASSO") not in risk_stats.index    # one validation cohort only
    for cohort in ("demo", "demo_validation", "pooled"):
        null = risk_stats.loc[(cohort, "DEMO_NULL_5GENE")]
        assert null["p"] > 0.05 and null["ci_low"] < 1 < null["ci_high"]
    # in the FDR family, except the optimistic training row: shown, no q (issue 19)
    training = risk_stats["analysis"] == "cox_hr_per_sd_training"
    assert risk_stats.loc[~training, "q"].notna().all()
    assert risk_stats.loc[training, "q"].isna().all()


@pytest.mark.slow
def test_demo_report_has_risk_section(demo_run):
    html = (demo_run / "results" / "report.html").read_text()
    assert ">Risk signatures</h2>" in html
    for text in ("LIANG2020_10GENE", "ZHANG2022_5GENE", "doi:10.7150/ijbs.45050",
                 "training: optimistic", "calibration at 3 years", "ROC at 3 years",
                 "calibration slope (95% CI)", "cross-validation over 10 repeats"):
        assert text in html, text


@pytest.mark.bad_input
def test_missing_signature_file_stops_the_run_before_any_job(tmp_path):
    import yaml

    from .conftest import demo_config, make_workdir, run_snakemake

    cfg = demo_config()
    cfg["signatures"]["files"] = ["resources/signatures/nope.tsv"]
    wd = make_workdir(tmp_path, yaml.safe_dump(cfg))
    res = run_snakemake(wd, "-n")
    assert res.returncode != 0
    err = res.stdout + res.stderr
    assert "field 'signatures.files'" in err and "Fix:" in err
    assert "'resources/signatures/nope.tsv' does not exist" in err
    assert not (wd / "results").exists()
