"""Batch statistics engine against lifelines, scipy, the per-feature functions and frozen R output.

The live R comparison (which also regenerates the golden files) is
tests/test_reference_batchstats.py; here the fast lane checks the engine against the frozen R
results in tests/golden/ and against lifelines / scipy on random data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines.statistics import logrank_test
from lifelines.utils import concordance_index
from scipy.stats import mannwhitneyu

from ferroscope.batchstats import (
    auc_delong,
    cox_efron,
    harrell_c,
    logrank_median_split,
    standardise,
)
from ferroscope.response import auc_test, delong_auc
from ferroscope.survival import _clean, fit_cox, km_median_split

GOLDEN = Path(__file__).parent / "golden"


def survival_data(seed: int, n: int = 200, p: int = 8, ties: bool = True):
    """Random features (one with a planted HR 1.5 per SD), tied times and scores, some NaN."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{j}" for j in range(p)])
    X["f2"] = np.round(X["f2"], 1)                      # tied scores
    X.loc[rng.choice(n, 25, replace=False), "f3"] = np.nan  # per-feature missing values
    t = rng.exponential(1 / (0.04 * np.exp(np.log(1.5) * X["f0"])))
    c = rng.uniform(6, 72, n)
    time = np.minimum(t, c)
    time = pd.Series(np.ceil(time) if ties else time)
    return time, pd.Series((t <= c).astype(float)), X


@pytest.mark.parametrize("seed,ties", [(1, True), (2, False), (3, True)])
def test_cox_equals_lifelines_per_feature(seed, ties):
    """lifelines CoxPHFitter (Efron), Newton-polished to convergence (survival.fit_cox)."""
    time, event, X = survival_data(seed, ties=ties)
    got = cox_efron(time, event, X)
    assert (got["status"] == "ok").all()
    for f in X.columns:
        df = _clean(time, event, X[f])
        df["z"] = (df["score"] - df["score"].mean()) / df["score"].std(ddof=1)
        cph = fit_cox(df[["time", "event", "z"]])
        ref = cph.summary.loc["z"]
        row = got.loc[f]
        assert row["n"] == len(df) and row["events"] == df["event"].sum()
        for ours, theirs in (("log_hr", "coef"), ("se_log_hr", "se(coef)"),
                             ("hr", "exp(coef)"), ("ci_low", "exp(coef) lower 95%"),
                             ("ci_high", "exp(coef) upper 95%"), ("p_wald", "p")):
            assert row[ours] == pytest.approx(ref[theirs], rel=1e-10, abs=1e-13), (f, ours)
        # the LR statistic is a difference of log-likelihoods: 1e-8 relative on p
        assert row["p_lr"] == pytest.approx(cph.log_likelihood_ratio_test().p_value, rel=1e-8)
        assert row["c_index"] == pytest.approx(cph.concordance_index_, abs=1e-12), f
    assert got.loc["f0", "p_wald"] < 1e-4   # the planted effect


def test_logrank_median_split_equals_lifelines():
    time, event, X = survival_data(4)
    got = logrank_median_split(time, event, X)
    for f in X.columns:
        km, note = km_median_split(_clean(time, event, X[f]))
        assert got.loc[f, "km_logrank_p"] == pytest.approx(km["km_logrank_p"], rel=1e-10)
        for key in ("km_median_high", "km_median_low"):
            assert got.loc[f, key] == pytest.approx(km[key], nan_ok=True), (f, key)
        assert got.loc[f, "km_note"] == note
    # direct lifelines call on one feature, and a small group left untested
    x = X["f0"]
    high = x > x.median()
    lr = logrank_test(time[high], time[~high], event[high], event[~high])
    assert got.loc["f0", "km_logrank_p"] == pytest.approx(lr.p_value, rel=1e-10)
    small = logrank_median_split(time[:15], event[:15], X[:15])
    assert small["km_logrank_p"].isna().all()
    assert small["km_note"].str.contains("fewer than 10 patients per group").all()


def test_km_median_not_reached_is_nan():
    time = pd.Series(np.arange(1.0, 41.0))
    event = pd.Series(np.r_[np.ones(5), np.zeros(35)])
    got = logrank_median_split(time, event, pd.DataFrame({"x": np.arange(40.0)}))
    assert np.isnan(got.loc["x", "km_median_high"]) and np.isnan(got.loc["x", "km_median_low"])


def test_harrell_c_equals_lifelines_with_ties_and_missing():
    time, event, X = survival_data(5)
    c = harrell_c(time, event, X)
    for f in X.columns:
        ok = X[f].notna()
        # lifelines: higher predicted value = longer survival, so pass -risk
        want = concordance_index(time[ok], -X.loc[ok, f], event[ok])
        assert c[f] == pytest.approx(want, abs=1e-14)


def test_standardise_is_pandas_per_sd():
    _, _, X = survival_data(6)
    z, mean, sd = standardise(X)
    ref = (X - X.mean()) / X.std(ddof=1)
    np.testing.assert_allclose(z.to_numpy(), ref.to_numpy(), rtol=1e-12, atol=1e-14)
    assert z["f3"].isna().sum() == 25
    np.testing.assert_allclose(sd.to_numpy(), X.std(ddof=1).to_numpy(), rtol=1e-14)
    z0, _, sd0 = standardise(X, ddof=0)
    np.testing.assert_allclose(sd0.to_numpy(), X.std(ddof=0).to_numpy(), rtol=1e-14)
    zc, _, sdc = standardise(pd.DataFrame({"c": np.ones(10)}))
    assert sdc["c"] == 0 and zc["c"].isna().all()


def test_cox_edge_cases_are_reported_not_fitted():
    time, event, X = survival_data(7, n=150, p=4)
    X = X[["f0", "f1"]].copy()
    X["const"] = 3.0
    X["mono"] = -time + 0.5 * event      # every event has the highest score of its risk set
    X["few"] = np.where(event == 1, np.nan, X["f0"])
    X.loc[event[event == 1].index[:4], "few"] = 1.0   # 4 events left
    got = cox_efron(time, event, X, min_events=10)
    assert (got.loc[["f0", "f1"], "status"] == "ok").all()
    assert got.loc["const", "note"] == "score is constant across patients"
    assert got.loc["few", "note"] == "4 events (< min_events = 10)"
    assert got.loc["mono", "status"] == "not tested"
    assert got.loc["mono", "note"].startswith("monotone likelihood")
    for f in ("const", "mono", "few"):
        assert got.loc[f, ["hr", "log_hr", "p_wald", "p_lr", "c_index"]].isna().all()
    none = cox_efron(time, event * 0, X[["f0"]])
    assert none.loc["f0", "note"] == "no events: every patient is censored"


def test_cox_one_feature_missing_does_not_touch_the_others():
    time, event, X = survival_data(8, p=3)
    full = cox_efron(time, event, X)
    X2 = X.copy()
    X2.loc[:50, "f1"] = np.nan
    part = cox_efron(time, event, X2)
    pd.testing.assert_frame_equal(full.loc[["f0", "f2"]], part.loc[["f0", "f2"]])
    keep = X2["f1"].notna()
    sub = cox_efron(time[keep], event[keep], X2.loc[keep, ["f1"]])
    assert part.loc["f1", "log_hr"] == pytest.approx(sub.loc["f1", "log_hr"], rel=1e-13)
    assert part.loc["f1", "n"] == keep.sum()


@pytest.mark.parametrize("seed", [1, 2])
def test_auc_delong_equals_reference_and_scipy(seed):
    rng = np.random.default_rng(seed)
    n = 90
    y = pd.Series((rng.uniform(size=n) < 0.35).astype(float))
    y[:4] = np.nan
    X = pd.DataFrame(rng.normal(size=(n, 5)) + 0.8 * y.fillna(0).to_numpy()[:, None] * [1, 0, 0,
                                                                                          0, 0])
    X[2] = np.round(X[2])                   # heavy ties
    X.loc[rng.choice(n, 9, replace=False), 3] = np.nan
    got = auc_delong(y, X)
    for f in X.columns:
        ref = auc_test(y, X[f])
        row = got.loc[f]
        assert row["n"] == ref.n and row["n_pos"] == ref.n_responders
        assert row["auc"] == pytest.approx(ref.auc, abs=1e-14)
        assert row["se"] == pytest.approx(ref.se, rel=1e-12)
        assert row["ci_low"] == pytest.approx(ref.ci_low, abs=1e-14)
        assert row["ci_high"] == pytest.approx(ref.ci_high, abs=1e-14)
        ok = X[f].notna() & y.notna()
        pos, neg = X.loc[ok & (y == 1), f], X.loc[ok & (y == 0), f]
        assert row["p_mwu"] == pytest.approx(
            mannwhitneyu(pos, neg, alternative="two-sided").pvalue, rel=1e-12)
        auc, se = delong_auc(pos.to_numpy(), neg.to_numpy())
        assert row["auc"] == pytest.approx(auc, abs=1e-14)
    assert got.loc[0, "auc"] > 0.65


def test_auc_small_untied_uses_the_exact_test_and_edge_cases():
    y = pd.Series([1.0] * 6 + [0.0] * 7)
    X = pd.DataFrame({"a": np.arange(13.0)[::-1] + 0.1, "const": 1.0})
    got = auc_delong(y, X)
    want = mannwhitneyu(X["a"][:6], X["a"][6:], alternative="two-sided", method="exact").pvalue
    assert got.loc["a", "p_mwu"] == pytest.approx(want, rel=1e-14)
    assert got.loc["a", "auc"] == 1.0
    assert got.loc["const", "note"] == "score is constant across patients"
    few = auc_delong(pd.Series([1.0] * 3 + [0.0] * 10), X)
    assert (few["status"] == "not tested").all()
    assert few.loc["a", "note"] == ("3 responders / 10 non-responders "
                                    "(< min_per_class = 5 in a class)")


def test_engine_equals_frozen_r_output():
    """Fast lane: the golden R results (written by tests/test_reference_batchstats.py)."""
    data = pd.read_csv(GOLDEN / "batchstats_input.tsv", sep="\t", float_precision="round_trip")
    want = pd.read_csv(GOLDEN / "batchstats_r.tsv", sep="\t", float_precision="round_trip",
                       index_col="feature")
    assert_matches_r(data, want)


def assert_matches_r(data: pd.DataFrame, want: pd.DataFrame) -> None:
    """Engine vs R coxph/concordance/survdiff per feature: 1e-8 relative, edge cases flagged."""
    X = data.drop(columns=["time", "event"])
    got = cox_efron(data["time"], data["event"], X)
    km = logrank_median_split(data["time"], data["event"], X)
    for f, r in want.iterrows():
        g = got.loc[f]
        if r["r_status"] == "ok":
            assert g["status"] == "ok", (f, g["note"])
            for ours, theirs in (("log_hr", "coef"), ("se_log_hr", "se"), ("p_wald", "p_wald"),
                                 ("p_lr", "p_lr")):
                assert g[ours] == pytest.approx(r[theirs], rel=1e-8), (f, ours)
            assert g["c_index"] == pytest.approx(r["concordance"], abs=1e-12), f
            assert km.loc[f, "km_logrank_p"] == pytest.approx(r["survdiff_p"], rel=1e-8), f
        else:
            # R: no variance (an error) or "coefficient may be infinite" (a warning)
            assert g["status"] == "not tested", f
            assert ("constant" in g["note"]) == (r["r_status"] == "constant"), f
            assert ("monotone" in g["note"]) == (r["r_status"] == "infinite"), f

