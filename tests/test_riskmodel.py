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
                               universe=list(expr.index), n_folds=5, seed=3,
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
