"""Outcome statistics: Cox per SD, KM/log-rank, DeLong AUC, BH, degenerate inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from ferroscope.response import auc_test, delong_auc
from ferroscope.statistics import add_fdr
from ferroscope.survival import cox_per_sd, maxstat_logrank, median_followup


def simulate(n=2000, hr=1.8, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n)
    t = rng.exponential(1 / (0.05 * np.exp(np.log(hr) * z)))
    c = rng.uniform(5, 60, n)
    return pd.Series(np.minimum(t, c)), pd.Series((t <= c).astype(float)), pd.Series(z)


def test_cox_recovers_planted_hr_per_sd():
    time, event, z = simulate()
    r = cox_per_sd(time, event, 3.0 * z + 10.0)  # scale and shift do not matter: per SD
    assert r.status == "ok"
    assert abs(np.log(r.hr) - np.log(1.8)) < 2.5 * r.se_log_hr
    assert r.ci_low < r.hr < r.ci_high
    assert r.p_wald < 1e-10 and r.p_lr < 1e-10
    assert 0.6 < r.c_index < 0.75
    assert r.ph_p > 0.001           # proportional hazards hold by construction
    assert r.km_median_high < r.km_median_low
    assert r.km_logrank_p < 1e-6


def test_cox_null_effect():
    time, event, _ = simulate(n=400, seed=5)
    noise = pd.Series(np.random.default_rng(9).standard_normal(400))
    r = cox_per_sd(time, event, noise)
    assert r.ci_low < 1 < r.ci_high


def test_cox_degenerate_inputs_are_explained():
    time = pd.Series(np.arange(1.0, 51.0))
    r = cox_per_sd(time, pd.Series(np.zeros(50)), pd.Series(np.arange(50.0)))
    assert r.status == "not tested" and "no events" in r.note
    # all censored before the only two events: too few events to test
    ev = pd.Series(np.r_[np.zeros(48), [1.0, 1.0]])
    r = cox_per_sd(time, ev, pd.Series(np.arange(50.0)))
    assert r.status == "not tested" and "2 events (< min_events = 10)" in r.note
    r = cox_per_sd(time, pd.Series(np.ones(50)), pd.Series(np.ones(50)))
    assert r.status == "not tested" and "constant" in r.note


def test_median_followup_reverse_km():
    # all censored: reverse KM = ordinary KM of censoring times -> median of times
    t = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0])
    assert median_followup(t, pd.Series([0.0] * 5)) == 3.0


def delong_reference(pos, neg):
    """O(m n) DeLong with the explicit kernel psi(x, y) = 1[x > y] + 0.5 1[x = y]."""
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    auc = psi.mean()
    return auc, np.sqrt(v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg))


def test_delong_matches_explicit_kernel_with_ties():
    rng = np.random.default_rng(4)
    pos = np.round(rng.normal(0.7, 1, 40), 1)
    neg = np.round(rng.normal(0, 1, 55), 1)
    auc, se = delong_auc(pos, neg)
    ref_auc, ref_se = delong_reference(pos, neg)
    assert auc == pytest.approx(ref_auc, abs=1e-12)
    assert se == pytest.approx(ref_se, abs=1e-12)


def test_auc_recovers_binormal_value():
    rng = np.random.default_rng(6)
    d = np.sqrt(2) * norm.ppf(0.75)
    y = pd.Series(np.r_[np.ones(600), np.zeros(600)])
    s = pd.Series(np.r_[rng.normal(d, 1, 600), rng.normal(0, 1, 600)])
    r = auc_test(y, s)
    assert r.ci_low < 0.75 < r.ci_high
    assert r.p_mwu < 1e-20


def test_auc_one_class_is_explained():
    r = auc_test(pd.Series([1.0] * 20), pd.Series(np.arange(20.0)))
    assert r.status == "not tested" and "0 non-responders" in r.note


def test_bh_by_hand_per_method():
    t = pd.DataFrame({"method": ["a"] * 4 + ["b"], "p": [0.01, 0.04, 0.03, np.nan, 0.5]})
    q = add_fdr(t)["q"].to_numpy()
    # ranks 1..3 of (0.01, 0.03, 0.04): 0.03, 0.04*3/3=0.04 -> monotone: 0.01*3=0.03, 0.04, 0.04
    np.testing.assert_allclose(q[:3], [0.03, 0.04, 0.04])
    assert np.isnan(q[3]) and q[4] == 0.5


def dersimonian_laird(eff, se):
    """Textbook DerSimonian-Laird (1986), tau² truncated at 0."""
    w = 1 / se**2
    fixed = np.sum(w * eff) / w.sum()
    q = np.sum(w * (eff - fixed) ** 2)
    tau2 = max(0.0, (q - (len(eff) - 1)) / (w.sum() - np.sum(w**2) / w.sum()))
    wr = 1 / (se**2 + tau2)
    mean = np.sum(wr * eff) / wr.sum()
    i2 = max(0.0, (q - (len(eff) - 1)) / q) if q > 0 else 0.0
    return mean, np.sqrt(1 / wr.sum()), tau2, i2


@pytest.mark.parametrize("eff", [[0.40, 0.55, 0.10, 0.80], [0.40, 0.41, 0.42, 0.39]],
                         ids=["heterogeneous", "homogeneous"])
def test_meta_analysis_is_dersimonian_laird(eff):
    from ferroscope.statistics import meta_analyse

    eff = np.array(eff)
    se = np.array([0.10, 0.12, 0.08, 0.15])
    t = pd.DataFrame({"cohort": list("abcd"), "method": "m", "set": "S", "endpoint": "os",
                      "analysis": "cox_hr_per_sd", "status": "ok", "log_hr": eff,
                      "se_log_hr": se, "n": 100, "estimate": np.exp(eff)})
    (r,) = meta_analyse(t, "dl").to_dict("records")
    mean, sd, tau2, i2 = dersimonian_laird(eff, se)
    assert r["log_hr"] == pytest.approx(mean, abs=1e-12)
    assert r["se_log_hr"] == pytest.approx(sd, abs=1e-12)
    assert r["tau2"] == pytest.approx(tau2, abs=1e-12) and r["i2"] == pytest.approx(i2)
    assert r["ci_low"] == pytest.approx(np.exp(mean - 1.959964 * sd))
    assert r["p"] == pytest.approx(2 * norm.sf(mean / sd))


def test_maxstat_corrected_p_exceeds_naive_p():
    time, event, z = simulate(n=300, hr=1.3, seed=11)
    stat, cut, p = maxstat_logrank(time, event, z)
    naive = 2 * norm.sf(stat)
    assert p > naive                      # the search over cut-points costs significance
    assert z.quantile(0.1) <= cut <= z.quantile(0.9)


def test_covariate_adjustment_reports_dropped_patients():
    time, event, z = simulate(n=400, seed=12)
    rng = np.random.default_rng(0)
    cov = pd.DataFrame({"age": rng.normal(60, 10, 400),
                        "stage": rng.choice(["I", "II", "III"], 400)})
    cov.loc[:9, "age"] = np.nan
    r = cox_per_sd(time, event, z, covariates=cov, td_auc=False)
    assert r.n_adj == 390 and "10 patients with missing covariates dropped" in r.note
    assert abs(np.log(r.hr_adj) - np.log(r.hr)) < 0.1   # covariates are independent noise


def test_time_dependent_auc_has_bootstrap_ci():
    time, event, z = simulate(n=300, seed=13)
    r = cox_per_sd(time, event, z, n_boot=50)
    assert 0.55 < r.td_auc_12 < 0.85
    assert r.td_auc_12_ci_low < r.td_auc_12 < r.td_auc_12_ci_high


def test_interaction_detects_predictive_score():
    from ferroscope.response import interaction_test

    rng = np.random.default_rng(14)
    n = 600
    arm = pd.Series(np.where(rng.random(n) < 0.5, "drug", "placebo"))
    z = pd.Series(rng.standard_normal(n))
    logit = -0.5 + np.where(arm == "drug", -1.0 * z, 0.0)   # predictive only under the drug
    y = pd.Series((rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float))
    r = auc_test(y[arm == "drug"], z[arm == "drug"])
    interaction_test(y, z, arm, treated="drug", control="placebo", res=r)
    assert r.p_interaction < 1e-4 and r.or_treated < 0.6 and 0.7 < r.or_control < 1.4


def test_small_groups_skip_km_with_a_reason():
    time, event, z = simulate(n=16, seed=15)
    r = cox_per_sd(time, event, z, min_events=3, td_auc=False)
    assert np.isnan(r.km_logrank_p) and "fewer than 10 patients per group" in r.note


def test_median_not_reached_is_empty_never_inf():
    """Few events in the low-score group: its KM curve stays above 0.5 (median not reached)."""
    from ferroscope.report import NOT_REACHED, show_medians
    from ferroscope.statistics import survival_rows

    rng = np.random.default_rng(21)
    n = 120
    z = pd.Series(rng.standard_normal(n))
    t = rng.exponential(1 / (0.03 * np.exp(1.5 * z)))
    c = rng.uniform(5, 40, n)
    time, event = pd.Series(np.minimum(t, c)), pd.Series((t <= c).astype(float))
    r = cox_per_sd(time, event, z, td_auc=False)
    assert np.isfinite(r.km_median_high) and np.isnan(r.km_median_low)
    table = survival_rows({("S", "os"): r}, "c", "m")
    assert not np.isinf(table.select_dtypes("number").to_numpy()).any()
    shown = show_medians(table)
    assert shown.loc[0, "km_median_low"] == NOT_REACHED
    assert shown.loc[0, "km_median_high"] == pytest.approx(r.km_median_high)


def test_notes_name_the_time_unit_of_the_input():
    """Times in days: the PH note says days, split_months is still in months."""
    rng = np.random.default_rng(3)
    n = 600
    z = rng.standard_normal(n)
    # hazard ratio 3 per SD in the first 12 months, none after: proportional hazards fail
    t1 = rng.exponential(1 / (0.05 * np.exp(np.log(3.0) * z)))
    t = np.where(t1 < 12, t1, 12 + rng.exponential(1 / 0.05, n))
    c = rng.uniform(6, 60, n)
    months = pd.Series(np.minimum(t, c))
    event = pd.Series((t <= c).astype(float))
    r_m = cox_per_sd(months, event, pd.Series(z), td_auc=False)
    r_d = cox_per_sd(months * 30.4375, event, pd.Series(z), td_auc=False, time_unit="days")
    assert r_m.ph_p < 0.05 and "months" in r_m.note and "days" not in r_m.note
    assert f"{r_d.split_months * 30.4375:.1f} days" in r_d.note and "months" not in r_d.note
    assert r_d.split_months == pytest.approx(r_m.split_months, rel=1e-9)
    assert r_d.hr == pytest.approx(r_m.hr, rel=1e-9)   # Cox depends on the order of times only


def test_new_td_auc_horizon_becomes_a_column(monkeypatch):
    """Adding a horizon to TD_AUC_MONTHS adds its columns (no silent drop from as_dict)."""
    from ferroscope import survival

    monkeypatch.setattr(survival, "TD_AUC_MONTHS", (12.0, 24.0, 36.0, 60.0))
    time, event, z = simulate(n=300, seed=13)
    d = cox_per_sd(time, event, z, n_boot=25).as_dict()
    assert {"td_auc_24", "td_auc_24_ci_low", "td_auc_24_ci_high"} <= set(d)
    assert 0.5 < d["td_auc_24"] < 0.9 and d["td_auc_24_ci_low"] < d["td_auc_24"]
    assert list(d)[-2:] == ["status", "note"]
