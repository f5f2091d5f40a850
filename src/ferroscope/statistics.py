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
"""

from __future__ import annotations

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
    return add_fdr(merged)
