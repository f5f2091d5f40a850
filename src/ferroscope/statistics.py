"""One tidy results table across cohorts, methods, sets and endpoints, pooled and with BH FDR.

Rows: one per cohort x method x set x endpoint. ``estimate`` is the HR per SD (survival
endpoints) or the AUC (response); ``p`` is the primary test's p-value (Cox Wald, Mann-Whitney).
``q`` is the Benjamini-Hochberg adjusted p across all tested sets x cohorts x endpoints of one
scoring method (each method is its own family: methods are alternative measurements of the same
hypotheses, not extra hypotheses).

Cohorts are compared through effect sizes only: rows with ``cohort == "pooled"`` are
DerSimonian-Laird random-effects meta-analyses (statsmodels ``combine_effects``) of the log HR
per SD (with its Cox SE) or of the AUC (with its DeLong SE) over the cohorts where the test was
possible, with tau² and I²; their q-values form a separate BH family per method.

Two tiers (``detail_selection``): every scored set gets the screening statistics and enters
the FDR; the detail tier (PH test, maxstat, time split, adjusted model, td-AUC, logistic OR,
KM figures) is computed for the sets with q below ``statistics.detail.q`` (in a cohort, or
pooled), the ``statistics.detail.top`` smallest p per cohort x method x endpoint, and every set
of the shipped curated GMT. Column ``tier`` says which tier a row had.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control, norm
from statsmodels.stats.meta_analysis import combine_effects

from .response import Z975, ResponseResult
from .survival import SurvivalResult

POOLED = "pooled"
COLUMNS = ["cohort", "method", "set", "endpoint", "analysis", "estimate", "ci_low", "ci_high",
           "p", "q", "status", "note"]


def survival_rows(results: dict[tuple[str, str], SurvivalResult], cohort: str,
                  method: str) -> pd.DataFrame:
    rows = []
    for (set_name, endpoint), r in results.items():
        d = r.as_dict()
        d.update(cohort=cohort, method=method, set=set_name, endpoint=endpoint,
                 analysis="cox_hr_per_sd", estimate=d["hr"], p=d["p_wald"])
        rows.append(d)
    return _table(rows)


def _table(rows: list[dict]) -> pd.DataFrame:
    """Rows as a table; with no rows, the standard columns (so the file has a header)."""
    if not rows:
        return pd.DataFrame(columns=[c for c in COLUMNS if c != "q"] + ["n"])
    return pd.DataFrame(rows)


def response_rows(results: dict[str, ResponseResult], cohort: str, method: str) -> pd.DataFrame:
    rows = []
    for set_name, r in results.items():
        d = r.as_dict()
        d.update(cohort=cohort, method=method, set=set_name, endpoint="response",
                 analysis="auc", estimate=d["auc"], p=d["p_mwu"])
        rows.append(d)
    return _table(rows)


def meta_analyse(table: pd.DataFrame) -> pd.DataFrame:
    """Random-effects pooling of every method x set x endpoint tested in two or more cohorts."""
    ok = table[(table["status"] == "ok") & (table["cohort"] != POOLED)]
    rows = []
    for (method, set_name, endpoint, analysis), g in ok.groupby(
            ["method", "set", "endpoint", "analysis"], sort=False):
        if len(g) < 2:
            continue
        survival = analysis == "cox_hr_per_sd"
        eff = (g["log_hr"] if survival else g["estimate"]).to_numpy(float)
        se = (g["se_log_hr"] if survival else g["se"]).to_numpy(float)
        res = combine_effects(eff, se**2, method_re="dl")
        tau2 = float(res.tau2)
        if tau2 > 0:
            mean, sd = float(res.mean_effect_re), float(res.sd_eff_w_re)
        else:
            # DerSimonian-Laird truncates tau² at 0 (statsmodels 0.15 does not): the
            # random-effects estimate is then the fixed-effect one.
            tau2 = 0.0
            mean, sd = float(res.mean_effect_fe), float(res.sd_eff_w_fe)
        null = 0.0 if survival else 0.5
        lo, hi = mean - Z975 * sd, mean + Z975 * sd
        back = np.exp if survival else (lambda v: v)
        rows.append({
            "cohort": POOLED, "method": method, "set": set_name, "endpoint": endpoint,
            "analysis": analysis, "estimate": float(back(mean)), "ci_low": float(back(lo)),
            "ci_high": float(back(hi)), "p": float(2 * norm.sf(abs(mean - null) / sd)),
            "status": "ok", "n_cohorts": len(g), "tau2": tau2, "i2": max(0.0, float(res.i2)),
            "n": int(g["n"].sum()),
            "note": f"DerSimonian-Laird random effects over {len(g)} cohorts "
                    f"({', '.join(map(str, g['cohort']))})",
            **({"log_hr": mean, "se_log_hr": sd} if survival else {"se": sd}),
        })
    return pd.DataFrame(rows)


def add_fdr(table: pd.DataFrame) -> pd.DataFrame:
    """Add ``q``: BH within each method over rows with a p-value; pooled rows separately."""
    out = table.copy()
    out["q"] = np.nan
    pooled = out["cohort"] == POOLED if "cohort" in out else pd.Series(False, index=out.index)
    for _, idx in out.groupby([out["method"], pooled]).groups.items():
        p = out.loc[idx, "p"]
        ok = p.notna()
        if ok.any():
            out.loc[p[ok].index, "q"] = false_discovery_control(p[ok].to_numpy(), method="bh")
    rest = [c for c in out.columns if c not in COLUMNS]
    return out[[c for c in COLUMNS if c in out.columns] + rest]


def combine(tables: list[pd.DataFrame]) -> pd.DataFrame:
    tables = [t for t in tables if not t.empty]
    if not tables:
        return pd.DataFrame(columns=COLUMNS)
    merged = pd.concat(tables, ignore_index=True)
    pooled = meta_analyse(merged)
    if not pooled.empty:
        merged = pd.concat([merged, pooled], ignore_index=True)
    return add_fdr(_pooled_tier(merged))


def _pooled_tier(table: pd.DataFrame) -> pd.DataFrame:
    """``tier`` of every row: a pooled row is "detail" when a cohort row it pools is; rows
    without a tier (risk signatures: every statistic) are "detail"."""
    out = table.copy()
    if "tier" not in out:
        out["tier"] = "detail"
        return out
    pooled = out["cohort"] == POOLED
    out.loc[~pooled, "tier"] = out.loc[~pooled, "tier"].fillna("detail")
    key = ["method", "set", "endpoint", "analysis"]
    detail = out.loc[~pooled & (out["tier"] == "detail"), key].drop_duplicates()
    hit = out.loc[pooled, key].merge(detail.assign(_hit=True), on=key, how="left")["_hit"]
    out.loc[pooled, "tier"] = np.where(hit.notna().to_numpy(), "detail",
                                       "screening")
    return out


SELECTION_COLUMNS = ["cohort", "method", "set", "endpoint", "analysis", "reason"]


def detail_selection(table: pd.DataFrame, *, q: float, top: int,
                     curated: Iterable[str]) -> pd.DataFrame:
    """The cohort x method x set x endpoint rows that get the detail tier, with the reasons.

    ``table`` is the screening statistics as ``combine`` returns them (q as statistics.tsv
    will have it, pooled rows included). A row is selected when its q < ``q``, when the pooled
    row of its method x set x endpoint has q < ``q``, when its p is among the ``top`` smallest
    of its cohort x method x endpoint (tested rows; ties broken by set name), or when its set is
    in ``curated``. Columns: ``SELECTION_COLUMNS``.
    """
    key = ["method", "set", "endpoint", "analysis"]
    if table.empty:
        return pd.DataFrame(columns=SELECTION_COLUMNS)
    pooled = table["cohort"] == POOLED
    rows = table.loc[~pooled, ["cohort", *key, "p", "q", "status"]].copy()
    reasons: dict[str, pd.Series] = {}
    reasons[f"q < {q:g}"] = rows["q"] < q
    sig_pooled = table.loc[pooled & (table["q"] < q), key].drop_duplicates()
    reasons[f"pooled q < {q:g}"] = rows[key].merge(
        sig_pooled.assign(_hit=True), on=key, how="left")["_hit"].notna().to_numpy(
        dtype=bool)
    ranked = rows[rows["status"] == "ok"].sort_values(["p", "set"], kind="stable")
    first = ranked.groupby(["cohort", "method", "endpoint", "analysis"], sort=False).head(top)
    reasons[f"top {top}"] = rows.index.isin(first.index)
    reasons["curated set"] = rows["set"].isin(set(curated))
    flags = pd.DataFrame({k: np.asarray(v, dtype=bool) for k, v in reasons.items()},
                         index=rows.index)
    chosen = flags.any(axis=1)
    out = rows.loc[chosen, ["cohort", *key]].copy()
    out["reason"] = ["; ".join(k for k in flags.columns if f[k])
                     for _, f in flags[chosen].iterrows()]
    return out.reset_index(drop=True)[SELECTION_COLUMNS]
