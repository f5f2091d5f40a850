"""Screening and detail tiers: selection rule, empty detail columns, shared td-AUC resamples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferroscope.batchstats import td_auc_bootstrap
from ferroscope.checks import check_screening
from ferroscope.errors import FerroscopeError
from ferroscope.statistics import combine, detail_selection, survival_rows
from ferroscope.survival import DETAIL_FIELDS, cox_per_sd, survival_table, td_auc_table


def cohort(seed: int = 1, n: int = 250, p: int = 30):
    rng = np.random.default_rng(seed)
    idx = pd.Index([f"P{i}" for i in range(n)])
    x = pd.DataFrame(rng.normal(size=(n, p)), index=idx, columns=[f"S{j:02d}" for j in range(p)])
    t = rng.exponential(1 / (0.03 * np.exp(np.log(1.8) * x["S00"] + np.log(1.5) * x["S01"])))
    c = rng.uniform(12, 120, n)
    return (pd.Series(np.minimum(t, c), index=idx), pd.Series((t <= c).astype(float), index=idx),
            x)


def screen_table(time, event, x, name="c1"):
    res = survival_table(time, event, x, detail=[], td_auc=False)
    return survival_rows({(s, "os"): r for s, r in res.items()}, name, "m")


def test_detail_selection_rules():
    t1, e1, x1 = cohort(1)
    t2, e2, x2 = cohort(2)
    table = combine([screen_table(t1, e1, x1, "c1"), screen_table(t2, e2, x2, "c2")])
    # a pooled row passing q selects its set in every cohort it pools
    hit = (table["cohort"] == "pooled") & (table["set"] == "S20")
    assert hit.sum() == 1 and table.loc[hit, "q"].iloc[0] > 0.05
    table.loc[hit, "q"] = 0.01
    chosen = detail_selection(table, q=0.05, top=3, curated=["S29"])
    assert (chosen.loc[chosen["set"] == "S20", "reason"].str.contains("pooled q < 0.05")).sum() == 2
    # the two planted sets pass q in both cohorts
    for s in ("S00", "S01"):
        why = chosen.loc[chosen["set"] == s, "reason"]
        assert len(why) == 2 and why.str.contains("q < 0.05").all()
    # top 3 per cohort x method x endpoint, by p
    for c in ("c1", "c2"):
        rows = table[table["cohort"] == c].sort_values("p")
        top = set(rows["set"].head(3))
        got = set(chosen.loc[(chosen["cohort"] == c)
                             & chosen["reason"].str.contains("top 3"), "set"])
        assert got == top
    # a curated set is always detailed, in every cohort
    assert (chosen.loc[chosen["set"] == "S29", "reason"] == "curated set").all()
    assert len(chosen.loc[chosen["set"] == "S29"]) == 2
    # nothing else: sets with neither reason stay in the screening tier
    q = table.set_index(["cohort", "set"])["q"]
    for _, r in chosen.iterrows():
        assert (q[(r["cohort"], r["set"])] < 0.05 or "top" in r["reason"]
                or r["set"] == "S29" or "pooled" in r["reason"])


def test_screening_rows_have_empty_detail_columns_and_same_screening_numbers():
    time, event, x = cohort(3, p=6)
    full = survival_table(time, event, x, n_boot=30)
    tiered = survival_table(time, event, x, detail=["S00"], n_boot=30)
    a, b = full["S00"].as_dict(), tiered["S00"].as_dict()
    assert a == pytest.approx(b, nan_ok=True)        # the same resamples whatever the tier
    s = tiered["S03"].as_dict()
    assert s["tier"] == "screening" and tiered["S00"].tier == "detail"
    for k in (*DETAIL_FIELDS, "td_auc_12", "td_auc_36_ci_low", "td_auc_12_boot_failed"):
        assert np.isnan(s[k]), k
    f = full["S03"].as_dict()
    for k in ("hr", "ci_low", "p_wald", "p_lr", "c_index", "km_logrank_p", "km_median_low"):
        assert s[k] == f[k], k
    # a single score through the public per-score API: the same numbers as the table
    one = cox_per_sd(time, event, x["S00"], n_boot=30).as_dict()
    assert one == pytest.approx(a, nan_ok=True)


def test_pooled_rows_take_the_tier_of_their_cohort_rows():
    t1, e1, x1 = cohort(1, p=4)
    t2, e2, x2 = cohort(2, p=4)
    tabs = []
    for name, (t, e, x) in {"c1": (t1, e1, x1), "c2": (t2, e2, x2)}.items():
        res = survival_table(t, e, x, detail=["S00"], td_auc=False)
        tabs.append(survival_rows({(s, "os"): r for s, r in res.items()}, name, "m"))
    out = combine(tabs)
    pooled = out[out["cohort"] == "pooled"].set_index("set")["tier"]
    assert pooled["S00"] == "detail" and pooled["S02"] == "screening"


def test_td_auc_failed_horizon_does_not_drop_the_others():
    time, event, x = cohort(4, n=120, p=2)
    short = np.flatnonzero(time.to_numpy() < 30)
    boot = np.vstack([np.random.default_rng(0).integers(0, len(time), (5, len(time))),
                      np.random.default_rng(1).choice(short, (1, len(time)))])
    _, boots = td_auc_bootstrap(time.to_numpy(), event.to_numpy(), x, [12.0, 60.0], boot)
    last = boots[-1]
    assert np.isfinite(last[0]).all() and np.isnan(last[1]).all()
    assert np.isfinite(boots[:5]).all()
    aucs = td_auc_table(time, event, x, n_boot=40)
    assert aucs["S00"]["td_auc_12_boot_failed"] >= 0
    assert aucs["S00"]["td_auc_12_ci_low"] < aucs["S00"]["td_auc_12"]


@pytest.mark.bad_input
def test_stale_screening_table_is_refused(tmp_path):
    time, event, x = cohort(5, p=3)
    table = screen_table(time, event, x)
    stale = table.copy()
    stale.loc[0, "p"] = stale.loc[0, "p"] * 0.5
    path = tmp_path / "results" / "c1" / "screen" / "survival_m.tsv"
    with pytest.raises(FerroscopeError) as err:
        check_screening(table, stale, path)
    msg = str(err.value)
    assert "does not match" in msg and "survival_screen" in msg and str(path) in msg
    check_screening(table, table.copy(), path)     # the same table passes


def test_response_tiers():
    from ferroscope.response import auc_test, response_table

    rng = np.random.default_rng(6)
    n = 120
    y = pd.Series((rng.uniform(size=n) < 0.4).astype(float))
    x = pd.DataFrame(rng.normal(size=(n, 3)) + 0.7 * y.to_numpy()[:, None] * [1, 0, 0],
                     columns=["A", "B", "C"])
    cov = pd.DataFrame({"age": rng.normal(60, 10, n)})
    res = response_table(y, x, covariates=cov, detail=["A"])
    assert res["A"].tier == "detail" and res["B"].tier == "screening"
    one = auc_test(y, x["A"], covariates=cov).as_dict()
    assert res["A"].as_dict() == pytest.approx(one, nan_ok=True)
    b = res["B"].as_dict()
    assert b["auc"] == auc_test(y, x["B"]).auc
    for k in ("or_per_sd", "p_logit", "or_adj", "p_adj", "n_adj"):
        assert np.isnan(b[k]), k


def test_detail_ph_p_is_the_projects_cox_zph():
    from ferroscope.survival import _clean, univariate_cox

    time, event, x = cohort(7, p=3)
    x.iloc[:15, 2] = np.nan                      # complete cases per score
    res = survival_table(time, event, x, td_auc=False)
    for col in x.columns:
        df = _clean(time, event, x[col])
        df["z"] = (df["score"] - df["score"].mean()) / df["score"].std(ddof=1)
        want = univariate_cox(df[["time", "event", "z"]])["ph_p"]
        assert res[col].ph_p == pytest.approx(want, rel=1e-8), col
