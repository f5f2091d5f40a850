"""What the figures draw, shared by the interactive report (plotly, :mod:`ferroscope.report`)
and the static figures (matplotlib, :mod:`ferroscope.figures`): one selection of rows, one
order and one wording of labels, so the two renderings of a result cannot disagree.

Labels are plain text; the report escapes them before they reach HTML.
"""

from __future__ import annotations

import pandas as pd

from .statistics import POOLED


def forest_rows(stats: pd.DataFrame, method: str, analysis: str) -> pd.DataFrame:
    """Tested rows of one method and analysis, in drawing order (first row at the bottom).

    Sets in reverse alphabetical order (so they read A-Z from the top), the pooled estimate of
    a set first (bottom of its group); adds ``is_pooled`` and ``label`` ("set · cohort ·
    endpoint", endpoint left out for AUC, "pooled (k cohorts)" for a pooled estimate).
    """
    d = stats[(stats["method"] == method) & (stats["analysis"] == analysis)
              & (stats["status"] == "ok")].copy()
    d["is_pooled"] = d["cohort"] == POOLED
    d = d.sort_values(["set", "is_pooled", "cohort", "endpoint"],
                      ascending=[False, False, False, False])
    labels = []
    for r in d.itertuples():
        who = f"pooled ({int(r.n_cohorts)} cohorts)" if r.is_pooled else str(r.cohort)
        labels.append(f"{r.set} · {who}" + (f" · {r.endpoint}" if analysis != "auc" else ""))
    d["label"] = labels
    return d


def stat_row(stats: pd.DataFrame, cohort: str, method: str, set_name: str,
             endpoint: str) -> pd.Series | None:
    """The statistics row of one cohort x method x set x endpoint (None when absent)."""
    row = stats[(stats["cohort"] == cohort) & (stats["method"] == method)
                & (stats["set"] == set_name) & (stats["endpoint"] == endpoint)]
    return row.iloc[0] if len(row) else None


def stat_value(row: pd.Series | None, column: str) -> float:
    """One number of a statistics row; NaN when the row or the column is absent."""
    if row is None or column not in row.index:
        return float("nan")
    return float(row[column])


def auc_label(row: pd.Series | None) -> str:
    """"AUC 0.71 (0.55-0.87)" for a tested response row, else "not tested"."""
    if row is None or row["status"] != "ok":
        return "not tested"
    return f"AUC {row['estimate']:.2f} ({row['ci_low']:.2f}-{row['ci_high']:.2f})"
