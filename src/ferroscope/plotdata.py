"""What the figures draw, shared by the interactive report (plotly, :mod:`ferroscope.report`)
and the static figures (matplotlib, :mod:`ferroscope.figures`): one selection of rows, one
order and one wording of labels, so the two renderings of a result cannot disagree.

Labels are plain text; the report escapes them before they reach HTML.

Tiers: the statistics table's ``tier`` column says which rows got the costly statistics
(``detail``: PH test, cut-points, KM, td-AUC) and which only the screening ones
(``screening``). Per-set figures (forest, Kaplan-Meier, ROC, box, correlation) are drawn for
detail-tier sets only, at most :data:`MAX_FIGURE_SETS` of them (smallest q first); a table
without ``tier`` (older results) counts as all detail.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .statistics import POOLED

DETAIL = "detail"
SCREENING = "screening"
#: Most sets drawn in one per-set figure (forest, KM menu, ROC menu, box, heatmap): the
#: detail-tier sets with the smallest q. Every row stays in the statistics table.
MAX_FIGURE_SETS = 40


def is_detail(stats: pd.DataFrame) -> pd.Series:
    """True for rows of the detail tier (every row when the table has no ``tier`` column)."""
    if "tier" not in stats.columns:
        return pd.Series(True, index=stats.index)
    return (stats["tier"] == DETAIL) | stats["tier"].isna()


def detail_sets(stats: pd.DataFrame, method: str, *, analysis: str | None = None,
                cohort: str | None = None, endpoint: str | None = None,
                limit: int | None = MAX_FIGURE_SETS) -> list[str]:
    """Sets with a tested detail-tier row of ``method`` (and of ``analysis``, ``cohort``,
    ``endpoint`` when given), smallest q first (ties by name), at most ``limit``."""
    d = stats[(stats["method"] == method) & (stats["status"] == "ok")]
    for col, value in (("analysis", analysis), ("cohort", cohort), ("endpoint", endpoint)):
        if value is not None:
            d = d[d[col] == value]
    d = d[is_detail(d)]
    if d.empty:
        return []
    q = pd.to_numeric(d["q"], errors="coerce").fillna(np.inf)
    best = q.groupby(d["set"].to_numpy()).min()
    order = sorted(best.index, key=lambda s: (best[s], str(s)))
    return order if limit is None else order[:limit]


def forest_rows(stats: pd.DataFrame, method: str, analysis: str, *,
                limit: int | None = MAX_FIGURE_SETS, detail_only: bool = True) -> pd.DataFrame:
    """Tested rows of one method and analysis, in drawing order (first row at the bottom).

    Only the detail-tier sets (:func:`detail_sets`, at most ``limit``; every set with
    ``detail_only=False``), with all their rows (cohorts and pooled). Sets in reverse
    alphabetical order (so they read A-Z from the top), the pooled estimate of a set first
    (bottom of its group); adds ``is_pooled`` and ``label`` ("set · cohort · endpoint",
    endpoint left out for AUC, "pooled (k cohorts)" for a pooled estimate).
    """
    d = stats[(stats["method"] == method) & (stats["analysis"] == analysis)
              & (stats["status"] == "ok")]
    if detail_only:
        d = d[d["set"].isin(detail_sets(stats, method, analysis=analysis, limit=limit))]
    d = d.copy()
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
