"""Penalised Cox training, freezing and locked validation (planted signals, lifelines checks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from ferroscope import riskmodel
from ferroscope.errors import FerroscopeError
from ferroscope.signatures import read_signature, score_signature


def planted(seed: int, n: int = 250, p: int = 20) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """genes x samples log2 matrix; G0 +0.6, G1 -0.5 log HR per SD; the rest noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(6, 1, (n, p)) * rng.uniform(0.4, 1.5, p)
    xs = (x - x.mean(0)) / x.std(0)
    t = rng.exponential(1 / (0.03 * np.exp(0.6 * xs[:, 0] - 0.5 * xs[:, 1])))
    c = rng.uniform(12, 90, n)
    samples = [f"P{i}" for i in range(n)]
    expr = pd.DataFrame(x.T, index=[f"G{i}" for i in range(p)], columns=samples)
    return (expr, pd.Series(np.minimum(t, c), index=samples),
            pd.Series((t <= c).astype(float), index=samples))


def test_breslow_loglik_equals_lifelines_without_ties():
    expr, time, event = planted(1, n=120, p=3)
    df = expr.T.assign(time=time, event=event)
    cph = CoxPHFitter().fit(df, "time", "event")        # Efron = Breslow without ties
    x = expr.T.to_numpy()
    ll = riskmodel.breslow_loglik(cph.params_.to_numpy(), x, time.to_numpy(), event.to_numpy())
    assert ll == pytest.approx(cph.log_likelihood_, rel=1e-9)
    assert riskmodel.saturated_loglik(np.array([1.0, 2, 3]), np.array([1.0, 1, 0])) == 0.0
    # two events tied at t = 1: the saturated Breslow likelihood is -2 log 2
    assert riskmodel.saturated_loglik(np.array([1.0, 1, 3]), np.array([1.0, 1, 0])) \
        == pytest.approx(-2 * np.log(2))


def test_folds_are_balanced_and_seeded():
    a, b = riskmodel.fold_ids(103, 10, 7), riskmodel.fold_ids(103, 10, 7)
    assert (a == b).all() and set(np.bincount(a)[1:]) == {10, 11}
    assert not (riskmodel.fold_ids(103, 10, 8) == a).all()


def test_training_recovers_planted_genes_and_freezes():
    expr, time, event = planted(2)
    m = riskmodel.train_coxnet(expr, time, event, name="M", cohort="train",
                               universe=list(expr.index), n_folds=5, cv_repeats=2, seed=3,
                               select="lambda_1se")
    assert m.coefficients["G0"] > 0 and m.coefficients["G1"] < 0
    assert m.lambda_1se > m.lambda_min
    assert set(m.coefficients.index) <= set(expr.index)
    assert m.cutpoint == pytest.approx(float(np.median(m.risk)))
    assert 0 < m.baseline_survival[36.0] < m.baseline_survival[12.0] < 1
    # the frozen signature file gives back the training risk exactly
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "signature.tsv"
        path.write_text(m.signature_text())
        sig = read_signature(path)
    assert sig.cutoff == pytest.approx(m.cutpoint) and sig.scale == "zscore"
    assert sig.meta["training_cohort"] == "train"
    again = score_signature(expr, sig, max_missing_share=0.0).risk
    np.testing.assert_allclose(again.loc[m.risk.index], m.risk, atol=1e-12)


def test_locked_validation_uses_the_training_cut_point():
    expr, time, event = planted(4, n=200)
    risk = pd.Series(expr.loc["G0"].to_numpy() - expr.loc["G0"].mean(), index=expr.columns)
    cut = float(np.quantile(risk, 0.7))                 # not the validation median
    v = riskmodel.validate_risk(time, event, risk, cutpoint=cut, baseline_s36=0.5, n_boot=50)
    assert (v.n_high, v.n_low) == ((risk > cut).sum(), (risk <= cut).sum())
    df = pd.DataFrame({"time": time, "event": event, "high": (risk > cut).astype(float)})
    want = CoxPHFitter().fit(df, "time", "event").summary.loc["high", "exp(coef)"]
    assert v.hr_high_low == pytest.approx(want, rel=1e-6)
    assert v.c_index_ci_low < v.survival.c_index < v.c_index_ci_high
    assert v.survival.c_index == pytest.approx(
        riskmodel.harrell_c(time.to_numpy(), event.to_numpy(), risk.to_numpy()), abs=1e-12)
    cal = v.calibration.set_index("group")
    assert cal.loc["high", "n"] == v.n_high
    # predicted: mean of S0(36)^exp(risk) within the group
    assert cal.loc["high", "predicted"] == pytest.approx(
        float(np.mean(0.5 ** np.exp(risk[risk > cut]))))


def test_td_roc_area_equals_sksurv_auc():
    from sksurv.metrics import cumulative_dynamic_auc
    from sksurv.util import Surv

    expr, time, event = planted(5)
    risk = expr.loc["G0"]
    roc = riskmodel.td_roc(time, event, risk, 36.0)
    y = Surv.from_arrays(event.astype(bool), time)
    want = cumulative_dynamic_auc(y, y, risk.to_numpy(), [36.0])[0][0]
    assert np.trapezoid(roc["tpr"], roc["fpr"]) == pytest.approx(want, abs=1e-12)


@pytest.mark.bad_input
def test_too_few_events_to_train_names_cohort_and_fix(tmp_path):
    expr, time, event = planted(6, n=60)
    event[:] = 0.0
    event.iloc[:3] = 1.0
    with pytest.raises(FerroscopeError) as err:
        riskmodel.train_coxnet(expr, time, event, name="M", cohort="small",
                               universe=list(expr.index), source="config/config.yaml")
    msg = str(err.value)
    assert "field 'models.M.cohort'" in msg and "3 events" in msg and "Fix:" in msg
    assert not list(tmp_path.iterdir())


@pytest.mark.bad_input
def test_unknown_universe_set_is_named(tmp_path):
    from ferroscope.genesets import GeneSet

    sets = [GeneSet("A", ("G1", "G2"))]
    with pytest.raises(FerroscopeError) as err:
        riskmodel.model_universe(sets, ["A", "NOPE"], model="M", gmt="x.gmt")
    msg = str(err.value)
    assert "NOPE" in msg and "field 'models.M.universe'" in msg and "Fix:" in msg
    assert riskmodel.model_universe(sets, "curated", model="M", gmt="x.gmt") == ["G1", "G2"]
    assert not list(tmp_path.iterdir())


# --- one home of the defaults; misspelt settings stop with the allowed values ---

def test_schema_defaults_equal_model_settings():
    import dataclasses

    import yaml

    from .conftest import REPO

    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    props = schema["properties"]["models"]["additionalProperties"]["properties"]
    fields = {f.name: f.default for f in dataclasses.fields(riskmodel.ModelSettings)}
    assert set(props) == set(fields)                     # every setting in both homes
    for key, default in fields.items():
        if key == "cohort":                              # required, no default
            assert "default" not in props[key]
            continue
        assert props[key]["default"] == default, key
    # train_coxnet's keyword defaults are the same ones
    import inspect

    sig = inspect.signature(riskmodel.train_coxnet).parameters
    for arg, key in (("l1_ratio", "l1_ratio"), ("n_folds", "folds"), ("cv_repeats", "cv_repeats"),
                     ("seed", "seed"), ("select", "select"), ("cutpoint", "cutpoint"),
                     ("validation_scaling", "validation_scaling"), ("endpoint", "endpoint")):
        assert sig[arg].default == fields[key], arg


@pytest.mark.bad_input
@pytest.mark.parametrize("key,value,allowed", [
    ("select", "lambda_max", "lambda_min, lambda_1se"),
    ("cutpoint", "mean", "median, {quantile: q}"),
    ("cutpoint", {"quantile": 1.5}, "{quantile: q} with 0 < q < 1"),
    ("validation_scaling", "global", "within_cohort, training"),
    ("cv_repeats", 0, "integer >= 1"),
])
def test_unknown_model_setting_stops_with_the_allowed_values(tmp_path, key, value, allowed):
    with pytest.raises(FerroscopeError) as err:
        riskmodel.ModelSettings.from_config("M", {"cohort": "c", key: value})
    msg = str(err.value)
    assert f"field 'models.M.{key}'" in msg and allowed in msg and "Fix:" in msg
    expr, time, event = planted(6, n=60)
    with pytest.raises(FerroscopeError):                 # the package refuses it too
        riskmodel.train_coxnet(expr, time, event, name="M", cohort="c",
                               universe=list(expr.index), **{
                                   {"folds": "n_folds"}.get(key, key): value})
    assert not list(tmp_path.iterdir())


@pytest.mark.bad_input
def test_misspelt_cutpoint_stops_the_workflow_before_any_job(tmp_path):
    import yaml

    from .conftest import demo_config, make_workdir, run_snakemake

    cfg = demo_config()
    cfg["models"]["DEMO_LASSO"]["cutpoint"] = "tertile"
    wd = make_workdir(tmp_path, yaml.safe_dump(cfg))
    res = run_snakemake(wd, "-n")
    err = res.stdout + res.stderr
    assert res.returncode != 0
    assert "field 'models.DEMO_LASSO.cutpoint'" in err and "median, {quantile: q}" in err
    assert not (wd / "results").exists()


# --- cut-point rules, repeated CV, selection frequency, S0 past follow-up ---

def test_cutpoint_median_quantile_and_value_are_honoured():
    lp = np.array([-2.0, -1, 0, 1, 2, 10])
    assert riskmodel.training_cutpoint(lp, "median")[0] == 0.5
    # numpy's linear quantile = R quantile(type = 7): 0.75 -> between 1 and 2 at 0.75
    assert riskmodel.training_cutpoint(lp, {"quantile": 0.75})[0] == pytest.approx(1.75)
    assert riskmodel.training_cutpoint(lp, {"value": 0.3}) == (0.3, "fixed value")
    expr, time, event = planted(2)
    m = riskmodel.train_coxnet(expr, time, event, name="M", cohort="train",
                               universe=list(expr.index), n_folds=5, cv_repeats=2, seed=3,
                               cutpoint={"quantile": 0.67})
    assert m.cutpoint == pytest.approx(float(np.quantile(m.risk, 0.67)), abs=1e-12)
    assert "0.67 quantile" in m.signature_text()


def test_repeated_cv_mean_curve_and_first_repeat():
    from .test_reference_riskmodel import simulate_genes

    d = simulate_genes(3)
    genes = [c for c in d if c.startswith("g")]
    z = riskmodel.standardise(d[genes])[0].to_numpy()
    t, e = d["time"].to_numpy(float), d["event"].to_numpy(float)
    folds = riskmodel.repeated_fold_ids(len(d), 5, 3, 11)
    assert (folds[0] == riskmodel.fold_ids(len(d), 5, 11)).all()
    assert not (folds[1] == folds[0]).all()
    cv3, coef = riskmodel.cv_coxnet(z, t, e, folds=folds)
    singles = [riskmodel.cv_coxnet(z, t, e, folds=f)[0] for f in folds]
    np.testing.assert_allclose(cv3.cvm, np.mean([s.cvm for s in singles], axis=0), rtol=1e-13)
    np.testing.assert_allclose(cv3.cvsd, np.mean([s.cvsd for s in singles], axis=0), rtol=1e-13)
    np.testing.assert_allclose(cv3.lambda_min_repeats, [s.lambda_min for s in singles])
    assert cv3.cvm[cv3.alphas == cv3.lambda_min][0] == cv3.cvm.min()
    freq = riskmodel.selection_frequency(cv3, coef, genes, "lambda_min")
    want = np.mean([coef[:, cv3.alphas == s.lambda_min][:, 0] != 0 for s in singles], axis=0)
    np.testing.assert_allclose(freq.to_numpy(), want)
    assert freq[["g0", "g1", "g2"]].min() == 1.0          # the planted genes, every repeat


def test_repeated_cv_equals_golden_r_output():
    """The live R comparison is tests/test_reference_riskmodel.py (slow); its outputs are kept
    in tests/golden for the fast lane."""
    from .test_reference_riskmodel import GOLDEN, repeated_cv_case

    _, _, cv = repeated_cv_case()
    r = pd.read_csv(GOLDEN / "riskmodel_repeated_cv.tsv", sep="\t")
    np.testing.assert_allclose(cv.alphas, r["lambda"], rtol=1e-12)
    np.testing.assert_allclose(cv.cvm, r["cvm"], rtol=1e-6)
    np.testing.assert_allclose(cv.cvsd, r["cvsd"], rtol=1e-5)
    assert cv.lambda_min == pytest.approx(r["lambda_min"].iloc[0], rel=1e-12)
    assert cv.lambda_1se == pytest.approx(r["lambda_1se"].iloc[0], rel=1e-12)
    lmin = pd.read_csv(GOLDEN / "riskmodel_repeated_cv_lambda_min.tsv", sep="\t")
    np.testing.assert_allclose(cv.lambda_min_repeats, lmin["lambda_min_repeat"], rtol=1e-12)


def test_baseline_past_last_followup_is_empty_with_a_note():
    expr, time, event = planted(2)
    time = time.clip(upper=50.0)                         # follow-up ends at 50 months
    m = riskmodel.train_coxnet(expr, time, event, name="M", cohort="train",
                               universe=list(expr.index), n_folds=5, cv_repeats=1, seed=3)
    assert np.isnan(m.baseline_survival[60.0]) and 0 < m.baseline_survival[36.0] < 1
    assert any("60 months not estimated" in n and "50.0 months" in n for n in m.notes)
    assert m.summary()["baseline_survival"]["60.0"] is None
    assert "60.0: null" in m.signature_text()


# --- validation scaling, calibration ---

def test_validation_scaling_training_locks_the_training_means(tmp_path):
    expr, time, event = planted(2)
    m = riskmodel.train_coxnet(expr, time, event, name="M", cohort="train",
                               universe=list(expr.index), n_folds=5, cv_repeats=1, seed=3,
                               validation_scaling="training")
    path = tmp_path / "signature.tsv"
    path.write_text(m.signature_text())
    sig = read_signature(path)
    assert sig.scale == "training_zscore"
    # training cohort: the training risk exactly
    again = score_signature(expr, sig, max_missing_share=0.0).risk
    np.testing.assert_allclose(again.loc[m.risk.index], m.risk, atol=1e-12)
    # a validation cohort whose genes are shifted by +1 log2: the training lock sees the
    # shift (risk mean sum beta_g / sd_g), within-cohort standardisation removes it (mean 0)
    shifted = expr + 1.0
    locked = score_signature(shifted, sig, max_missing_share=0.0).risk
    assert locked.mean() == pytest.approx(float((m.coefficients / m.train_sd).sum()), abs=1e-9)
    m_within = riskmodel.train_coxnet(expr, time, event, name="M", cohort="train",
                                      universe=list(expr.index), n_folds=5, cv_repeats=1,
                                      seed=3)
    path.write_text(m_within.signature_text())
    within = score_signature(shifted, read_signature(path), max_missing_share=0.0).risk
    assert within.mean() == pytest.approx(0.0, abs=1e-12)


def test_calibration_equals_golden_r_output():
    from .test_reference_riskmodel import GOLDEN, calibration_case, check_calibration_against

    d, s0 = calibration_case()
    r = pd.read_csv(GOLDEN / "riskmodel_calibration.tsv", sep="\t").iloc[0]
    check_calibration_against(d, s0, r)


def test_calibration_recovers_planted_slope_and_a_calibrated_model():
    from .test_reference_riskmodel import calibration_case

    # true effect 1.4 x lp: slope CI covers 1.4 and not 1
    d, s0 = calibration_case(seed=21, n=1000, shrink=1.4)
    slope = riskmodel.calibration_slope(d["time"], d["event"], d["lp"])
    assert 1 < slope["calib_slope_ci_low"] < 1.4 < slope["calib_slope_ci_high"]
    # a calibrated model (true S0, slope 1): both CIs cover 1; the curve sits on the diagonal
    d, s0 = calibration_case(seed=22, n=1000, shrink=1.0)
    slope = riskmodel.calibration_slope(d["time"], d["event"], d["lp"])
    assert slope["calib_slope_ci_low"] < 1 < slope["calib_slope_ci_high"]
    large, _ = riskmodel.calibration_in_the_large(d["time"], d["event"], d["lp"], s0)
    assert large["calib_oe_36_ci_low"] < 1 < large["calib_oe_36_ci_high"]
    curve, ici = riskmodel.calibration_curve(d["time"], d["event"], d["lp"], s0)
    assert ici < 0.03 and len(curve) == 50
    assert np.max(np.abs(curve["observed"] - curve["predicted"])) < 0.08


def test_calibration_in_the_large_needs_followup_to_the_horizon():
    from .test_reference_riskmodel import calibration_case

    d, s0 = calibration_case()
    short = d.assign(time=d["time"].clip(upper=30.0))
    v = riskmodel.validate_risk(short["time"], short["event"], short["lp"], cutpoint=0.0,
                                baseline_s36=s0, n_boot=0)
    assert np.isfinite(v.calib_slope) and np.isnan(v.calib_oe_36) and v.curve.empty
    assert any("follow-up ends at 30.0 months" in n for n in v.notes)
