"""Static figures (PNG for slides, SVG for papers), written beside the report.

The interactive report uses plotly; these matplotlib versions are the fallbacks a manuscript
needs and what ``snakemake --report`` shows. Like the report, they draw the detail-tier sets
only (at most :data:`ferroscope.plotdata.MAX_FIGURE_SETS`, smallest q first): a panel per set of
a 700-set collection made a 2,500 x 155,000 pixel raster (gigabytes) that nobody can read.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from .io import atomic_path
from .plotdata import MAX_FIGURE_SETS, auc_label, detail_sets, forest_rows, stat_row, stat_value
from .response import roc_points, treated_subset
from .survival import km_curves

COLORS = {"high": "#c0392b", "low": "#2471a3"}


def _save(fig: plt.Figure, png: str | Path, svg: str | Path) -> None:
    """Write both files atomically; SVG text stays text (editable in a paper's figure)."""
    for path, fmt in ((png, "png"), (svg, "svg")):
        with atomic_path(path) as tmp, plt.rc_context({"svg.fonttype": "none"}):
            fig.savefig(tmp, format=fmt, dpi=200, bbox_inches="tight",
                        metadata={"Date": None} if fmt == "svg" else None)
    plt.close(fig)


def _grid(n: int) -> tuple[plt.Figure, np.ndarray]:
    cols = min(3, max(n, 1))
    rows = int(np.ceil(max(n, 1) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def forest(stats: pd.DataFrame, method: str, analysis: str, png: str | Path,
           svg: str | Path) -> None:
    """Forest plot of HR per SD (log scale) or AUC per set x cohort x endpoint."""
    d = forest_rows(stats, method, analysis)
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.32 * max(len(d), 1)))
    if d.empty:
        ax.text(0.5, 0.5, "no test possible", ha="center", va="center")
        ax.set_axis_off()
    else:
        y = np.arange(len(d))  # first row at the bottom, as in the report
        color = np.where(d["q"] < 0.05, "#c0392b", "#444444")
        ax.errorbar(d["estimate"], y, xerr=[d["estimate"] - d["ci_low"],
                                            d["ci_high"] - d["estimate"]],
                    fmt="none", ecolor="#888", capsize=2)
        for pooled, marker, size in ((False, "s", 30), (True, "D", 60)):
            m = (d["is_pooled"] == pooled).to_numpy()
            if m.any():
                ax.scatter(d["estimate"][m], y[m], c=color[m], marker=marker, s=size, zorder=3)
        ax.set_yticks(y, list(d["label"]), fontsize=8)
        ref = 0.5 if analysis == "auc" else 1.0
        ax.axvline(ref, ls="--", color="#999")
        if analysis == "auc":
            ax.set_xlim(0, 1)
            ax.set_xlabel("AUC for response (95% DeLong CI)")
        else:
            ax.set_xscale("log")
            lo, hi = ax.get_xlim()  # plain ratios as ticks, not powers of ten
            steps = ((0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 1.75, 2) if hi / lo < 4
                     else (0.125, 0.25, 0.5, 1, 2, 4, 8, 16))
            ticks = [t for t in steps if lo <= t <= hi]
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("hazard ratio per SD (95% CI)")
        ax.set_title(f"{method}; red: BH q < 0.05; ◆ random-effects pooled", fontsize=9)
    _save(fig, png, svg)


def _panel_sets(scores: pd.DataFrame, stats: pd.DataFrame, cohort: str, method: str,
                endpoint: str) -> pd.DataFrame:
    """The scores of the cohort's detail-tier sets of ``endpoint``, smallest q first."""
    scored = set(scores.columns)
    keep = [s for s in detail_sets(stats, method, cohort=cohort, endpoint=endpoint, limit=None)
            if s in scored]
    return scores[keep[:MAX_FIGURE_SETS]]


def km_panels(clinical: pd.DataFrame, scores: pd.DataFrame, stats: pd.DataFrame, cohort: str,
              method: str, png: str | Path, svg: str | Path) -> None:
    """Kaplan-Meier curves by median split, one panel per detail-tier set."""
    scores = _panel_sets(scores, stats, cohort, method, "os")
    clin = clinical.reindex(scores.index)
    fig, axes = _grid(scores.shape[1])
    for ax, set_name in zip(axes.flat, scores.columns, strict=False):
        if "os_time_months" not in clin:
            ax.text(0.5, 0.5, "no OS data", ha="center")
            continue
        curves = km_curves(clin["os_time_months"], clin["os_event"], scores[set_name])
        for group in ("high", "low"):
            c = curves[curves["group"] == group]
            ax.step(c["time"], c["survival"], where="post", color=COLORS[group],
                    label=f"{group} score")
        p = stat_value(stat_row(stats, cohort, method, set_name, "os"), "km_logrank_p")
        ax.set_title(f"{set_name}\nlog-rank p = {p:.2g}", fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("months", fontsize=8)
        ax.set_ylabel("overall survival", fontsize=8)
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle(f"{cohort}: OS by median {method} score", fontsize=10)
    fig.tight_layout()
    _save(fig, png, svg)


def roc_panels(clinical: pd.DataFrame, scores: pd.DataFrame, stats: pd.DataFrame, cohort: str,
               method: str, png: str | Path, svg: str | Path, *, arm: str = "") -> None:
    """ROC curves (responders called by a high score), one panel per detail-tier set, in the
    treated ``arm`` of the response analysis ("" = every patient)."""
    scores = _panel_sets(scores, stats, cohort, method, "response")
    clin = treated_subset(clinical.reindex(scores.index), arm)
    fig, axes = _grid(scores.shape[1])
    for ax, set_name in zip(axes.flat, scores.columns, strict=False):
        ax.plot([0, 1], [0, 1], ls="--", color="#999")
        if clin["response"].nunique() == 2:
            roc = roc_points(clin["response"], scores.loc[clin.index, set_name])
            ax.step(roc["fpr"], roc["tpr"], where="post", color="#1f3a4d")
        label = auc_label(stat_row(stats, cohort, method, set_name, "response"))
        ax.set_title(f"{set_name}\n{label}", fontsize=8)
        ax.set_xlabel("1 - specificity", fontsize=8)
        ax.set_ylabel("sensitivity", fontsize=8)
    fig.suptitle(f"{cohort}: response" + (f" (arm {arm})" if arm else ""),
                 fontsize=10)
    fig.tight_layout()
    _save(fig, png, svg)
