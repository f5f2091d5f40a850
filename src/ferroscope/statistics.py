"""One tidy results table across cohorts, methods, sets and endpoints, with BH FDR.

Rows: one per cohort x method x set x endpoint. ``estimate`` is the HR per SD (survival
endpoints) or the AUC (response); ``p`` is the primary test's p-value (Cox Wald, Mann-Whitney).
``q`` is the Benjamini-Hochberg adjusted p across all tested sets x cohorts x endpoints of one
scoring method (each method is its own family: methods are alternative measurements of the same
hypotheses, not extra hypotheses).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

from .response import ResponseResult
from .survival import SurvivalResult

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
    return pd.DataFrame(rows)


def response_rows(results: dict[str, ResponseResult], cohort: str, method: str) -> pd.DataFrame:
    rows = []
    for set_name, r in results.items():
        d = r.as_dict()
        d.update(cohort=cohort, method=method, set=set_name, endpoint="response",
                 analysis="auc", estimate=d["auc"], p=d["p_mwu"])
        rows.append(d)
    return pd.DataFrame(rows)


def add_fdr(table: pd.DataFrame) -> pd.DataFrame:
    """Add ``q`` (BH within each method over rows with a p-value) and order the columns."""
    out = table.copy()
    out["q"] = np.nan
    for _, idx in out.groupby("method").groups.items():
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
    return add_fdr(pd.concat(tables, ignore_index=True))
