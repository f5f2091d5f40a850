"""The report's JSON tables (statistics, coverage), sorted, filtered and paged by the
page's own script; numbers rounded for display, KM medians "not reached" shown.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .data import CohortData


def _json_column(col: pd.Series, digits: int) -> tuple[list[Any], bool]:
    """One column for JSON: numbers to ``digits`` significant digits (whole numbers as
    integers), text as text, empty cells as None; and whether the column is numeric."""
    if pd.api.types.is_bool_dtype(col):
        return col.astype(object).tolist(), False
    if not pd.api.types.is_numeric_dtype(col):
        return col.astype(object).where(col.notna(), None).map(
            lambda v: v if v is None else str(v)).tolist(), False
    v = col.to_numpy(float)
    ok = np.isfinite(v)
    if ok.all() and np.all(v == np.round(v)) and np.all(np.abs(v) < 2**53):
        return v.astype(np.int64).tolist(), True
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = (digits - 1 - np.floor(np.log10(np.abs(np.where(ok & (v != 0), v, 1.0)))))
        shift = shift.astype(int)
        # round(v * 10^k) / 10^k with an exact power of ten on either side
        up = 10.0 ** np.clip(shift, 0, 300)
        down = 10.0 ** np.clip(-shift, 0, 300)
        rounded = np.where(shift >= 0, np.round(v * up) / up, np.round(v / down) * down)
    out = rounded.astype(object)
    out[~ok] = None
    return out.tolist(), True


def table_json(frame: pd.DataFrame, columns: list[str], *, warn: pd.Series | None = None,
               digits: int = 4) -> dict[str, Any]:
    """A table for the page's script: column names, which are numeric, and rows as arrays
    (numbers to ``digits`` significant digits, empty cells as null); ``warn`` marks rows
    drawn highlighted (not scored, not tested)."""
    cols = [c for c in columns if c in frame.columns]
    data, numeric = [], []
    for c in cols:
        values, is_num = _json_column(frame[c], digits)
        data.append(values)
        numeric.append(is_num)
    rows = [list(r) for r in zip(*data, strict=True)] if cols else []
    out: dict[str, Any] = {"columns": cols, "numeric": numeric, "rows": rows}
    if warn is not None:
        out["warn"] = [int(b) for b in np.asarray(warn, dtype=bool)]
    return out



STAT_COLUMNS = ["cohort", "method", "set", "endpoint", "tier", "estimate", "ci_low", "ci_high",
                "p", "q", "p_lr", "c_index", "ph_p", "hr_early", "hr_late", "hr_adj", "p_adj",
                "km_logrank_p", "km_median_high", "km_median_low", "km_tertile_p",
                "maxstat_cutpoint", "maxstat_p", "td_auc_12", "td_auc_36", "td_auc_60",
                "or_per_sd", "p_logit", "or_treated", "or_control", "p_interaction", "tau2", "i2",
                "pi_low", "pi_high", "n", "events", "status", "note"]
COVERAGE_COLUMNS = ["cohort", "set", "n_genes", "n_present", "coverage_percent", "scored",
                    "missing", "missing_reasons", "aliases_used"]


def statistics_table(stats: pd.DataFrame) -> dict[str, Any]:
    """Every row of the statistics table as a JSON table (KM medians "not reached" shown)."""
    table = show_medians(stats)
    return table_json(table, STAT_COLUMNS, warn=table["status"] != "ok")


def coverage_table(cohorts: list[CohortData]) -> dict[str, Any]:
    """The coverage of every set in every cohort as one JSON table."""
    frames = []
    for d in cohorts:
        c = d.coverage.copy()
        c["cohort"] = d.cohort
        scored = c["scored"].astype(bool)
        c["coverage_percent"] = (100 * pd.to_numeric(c["coverage"], errors="coerce")).round(1)
        reason = c["reason"] if "reason" in c else pd.Series("", index=c.index)
        c["scored"] = np.where(scored, "yes", "not scored: " + reason.fillna("").astype(str))
        c["warn"] = ~scored
        frames.append(c)
    if not frames:
        return table_json(pd.DataFrame(columns=COVERAGE_COLUMNS), COVERAGE_COLUMNS)
    table = pd.concat(frames, ignore_index=True)
    return table_json(table, COVERAGE_COLUMNS, warn=table["warn"])


NOT_REACHED = "not reached"
MEDIAN_COLUMNS = ("km_median_high", "km_median_low")


def show_medians(stats: pd.DataFrame) -> pd.DataFrame:
    """KM medians for display: "not reached" where the KM split was tested but a group's
    curve stays above 0.5 (the table holds an empty cell there, never inf)."""
    table = stats.copy()
    if "km_logrank_p" not in table:
        return table
    tested = table["km_logrank_p"].notna()
    for col in MEDIAN_COLUMNS:
        if col in table:
            values = pd.to_numeric(table[col], errors="coerce")
            shown = values.astype(object)
            shown[tested & ~np.isfinite(values)] = NOT_REACHED
            table[col] = shown
    return table

