"""The figures of the report's "Genes" section (:mod:`ferroscope.report.genes`): the gene
forest (genes x cohorts, pooled diamond) and the per-set panel (member HR, the set's HR without
each member, each member's correlation with the set score). Public text is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ..genelevel import COX
from ..statistics import POOLED
from .markup import _esc, _fig_html


def _cohort_colors(cohorts: Sequence[str]) -> dict[str, str]:
    palette = qualitative.D3
    return {c: palette[i % len(palette)] for i, c in enumerate(cohorts)}

def _axis(analysis: str) -> tuple[float, str]:
    return (1.0, "HR per SD of expression") if analysis == COX else (0.5, "AUC")

def _positions(genes: Sequence[str]) -> dict[str, int]:
    """y position of each gene, the first at the top."""
    return {g: len(genes) - 1 - i for i, g in enumerate(genes)}

def _offsets(groups: Sequence[str]) -> dict[str, float]:
    """Vertical offset of each cohort (and pooled) inside a gene's band."""
    step = 0.7 / max(len(groups), 1)
    return {c: -(k - (len(groups) - 1) / 2) * step for k, c in enumerate(groups)}

def _gene_axis(fig: go.Figure, genes: Sequence[str]) -> None:
    pos = _positions(genes)
    fig.update_yaxes(tickvals=list(pos.values()), ticktext=[_esc(g) for g in pos],
                     range=[-0.6, len(genes) - 0.4], zeroline=False)

def gene_forest(rows: pd.DataFrame, genes: Sequence[str], analysis: str, endpoint: str,
                cohorts: Sequence[str], title: str, div_id: str) -> str | None:
    """Forest of ``genes`` (top to bottom) x cohorts, pooled estimate as a black diamond."""
    d = rows[(rows["analysis"] == analysis) & (rows["endpoint"] == endpoint)
             & (rows["status"] == "ok") & rows["gene"].isin(genes)]
    if d.empty:
        return None
    fig = go.Figure()
    _forest_traces(fig, d, list(genes), cohorts, None)
    ref, label = _axis(analysis)
    fig.add_vline(x=ref, line_dash="dash", line_color="#999")
    _gene_axis(fig, genes)
    if analysis == COX:
        fig.update_xaxes(type="log")
    fig.update_xaxes(title=label)
    fig.update_layout(title=title, height=140 + 34 * len(genes), legend={"title": "cohort"})
    return _fig_html(fig, div_id, top=60, own_margin=True)

def _forest_traces(fig: go.Figure, d: pd.DataFrame, genes: list[str], cohorts: Sequence[str],
                   col: int | None) -> None:
    """One trace per cohort (and pooled), offset vertically inside each gene's band."""
    colors = _cohort_colors(cohorts)
    pos = _positions(genes)
    groups = [*cohorts, POOLED]
    off = _offsets(groups)
    for c in groups:
        g = d[(d["cohort"] == c) & d["gene"].isin(pos)]
        if g.empty:
            continue
        pooled = c == POOLED
        q = g["q"].to_numpy(float) if "q" in g else np.full(len(g), np.nan)
        fig.add_trace(go.Scatter(
            x=g["estimate"], y=[pos[x] + off[c] for x in g["gene"]], mode="markers",
            name="pooled (random effects)" if pooled else _esc(c), legendgroup=str(c),
            marker={"color": "#000" if pooled else colors[c], "size": 12 if pooled else 8,
                    "symbol": "diamond" if pooled else "square",
                    "line": {"width": np.where(q < 0.05, 2, 0).tolist(), "color": "#c0392b"}},
            error_x={"type": "data", "symmetric": False,
                     "array": g["ci_high"] - g["estimate"],
                     "arrayminus": g["estimate"] - g["ci_low"], "thickness": 1.2},
            text=[_esc(x) for x in g["gene"]],
            customdata=np.c_[g["ci_low"], g["ci_high"], g["p"], q, g["n"]],
            hovertemplate=("%{text} · " + _esc(c) + "<br>%{x:.3f} (95% CI %{customdata[0]:.3f}-"
                           "%{customdata[1]:.3f})<br>p = %{customdata[2]:.3g}, q = "
                           "%{customdata[3]:.3g}, n = %{customdata[4]}<extra></extra>")),
            **({"row": 1, "col": col} if col else {}))

def set_panel(rows: pd.DataFrame, drivers: pd.DataFrame, set_name: str, endpoint: str,
              cohorts: Sequence[str], set_note: str, div_id: str) -> str | None:
    """A set's genes: gene HR per SD | set HR without the gene | correlation with the score.

    ``rows``: gene rows with one row per set (``set`` a single name)."""
    d = rows[(rows["analysis"] == COX) & (rows["endpoint"] == endpoint)
             & (rows["status"] == "ok") & (rows["set"].astype(str) == set_name)]
    loo = (drivers[(drivers["set"] == set_name) & (drivers["endpoint"] == endpoint)]
           if not drivers.empty else drivers)
    genes = list(dict.fromkeys([*d["gene"].astype(str),
                                *(loo["gene"].astype(str) if len(loo) else [])]))
    if not genes:
        return None
    # strongest risk at the top: pooled log HR, else the mean over cohorts
    mean = np.log(d["estimate"].astype(float)).groupby(d["gene"]).mean()
    pooled = d[d["cohort"] == POOLED].set_index("gene")["estimate"]
    key = {g: float(np.log(pooled[g])) if g in pooled.index else float(mean.get(g, 0.0))
           for g in genes}
    genes = sorted(genes, key=lambda g: -key[g])
    pos = _positions(genes)
    off = _offsets([*cohorts, POOLED])
    has_loo = len(loo) > 0
    fig = make_subplots(rows=1, cols=3 if has_loo else 1, shared_yaxes=True,
                        column_widths=[0.5, 0.3, 0.2] if has_loo else [1.0],
                        horizontal_spacing=0.03,
                        subplot_titles=(["gene HR per SD", "set HR without the gene",
                                         "r with set score"] if has_loo else None))
    _forest_traces(fig, d, genes, cohorts, 1)
    fig.add_vline(x=1.0, line_dash="dash", line_color="#999", row=1, col=1)
    fig.update_xaxes(type="log", row=1, col=1)
    colors = _cohort_colors(cohorts)
    if has_loo:
        for c, g in loo.groupby("cohort", sort=False):
            color = colors.get(str(c), "#555")
            g = g[g["gene"].isin(pos)]
            ok = g[g["status"] == "ok"]
            ys = [pos[x] + off.get(str(c), 0.0) for x in ok["gene"]]
            fig.add_trace(go.Scatter(
                x=ok["hr_without"], y=ys, mode="markers", showlegend=False,
                marker={"color": color, "symbol": "circle", "size": 8}, legendgroup=str(c),
                error_x={"type": "data", "symmetric": False,
                         "array": ok["ci_high_without"] - ok["hr_without"],
                         "arrayminus": ok["hr_without"] - ok["ci_low_without"],
                         "thickness": 1},
                text=[_esc(x) for x in ok["gene"]],
                customdata=np.c_[ok["hr_set"], ok["p_without"]],
                hovertemplate=("without %{text} · " + _esc(c) + "<br>set HR %{x:.3f} "
                               "(p = %{customdata[1]:.3g}); with every member "
                               "%{customdata[0]:.3f}<extra></extra>")), row=1, col=2)
            if len(ok):
                fig.add_vline(x=float(ok["hr_set"].iloc[0]), line_dash="dot",
                              line_color=color, row=1, col=2)
            r = g.drop_duplicates("gene")
            fig.add_trace(go.Scatter(
                x=r["r"], y=[pos[x] + off.get(str(c), 0.0) for x in r["gene"]],
                mode="markers", marker={"color": color, "symbol": "circle", "size": 8},
                showlegend=False, text=[_esc(x) for x in r["gene"]],
                hovertemplate="%{text} · " + _esc(c) + ": r = %{x:.2f}<extra></extra>"),
                row=1, col=3)
        fig.update_xaxes(type="log", row=1, col=2)
        fig.update_xaxes(range=[-1, 1], row=1, col=3)
        fig.add_vline(x=0.0, line_color="#bbb", row=1, col=3)
    _gene_axis(fig, genes)
    fig.update_layout(
        title=_esc(f"{set_name} · {endpoint}") + (f"<br><sup>{_esc(set_note)}</sup>"
                                                  if set_note else ""),
        height=170 + 30 * len(genes), margin={"t": 100}, legend={"title": "cohort"})
    return _fig_html(fig, div_id, top=60, own_margin=True)
