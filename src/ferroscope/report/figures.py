"""The report's plotly figures: forest, volcano, Kaplan-Meier, ROC, box and correlation
heatmap (per-set figures drawn for the detail tier only, see :mod:`ferroscope.plotdata`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..plotdata import (
    MAX_FIGURE_SETS,
    auc_label,
    detail_sets,
    forest_rows,
    stat_row,
    stat_value,
)
from ..response import roc_points
from ..statistics import POOLED
from ..survival import at_risk_table, km_curves
from .data import COLORS, ENDPOINT_WORDS, CohortData, _response_subset
from .markup import _esc, _fig_html


def forest_plot(stats: pd.DataFrame, method: str, analysis: str, div_id: str, *,
                limit: int | None = MAX_FIGURE_SETS, detail_only: bool = True) -> str | None:
    """HR per SD (log axis) or AUC per set x cohort with 95% CI; pooled estimates as diamonds
    (the detail-tier sets, at most ``limit``: :func:`ferroscope.plotdata.forest_rows`)."""
    d = forest_rows(stats, method, analysis, limit=limit, detail_only=detail_only)
    if d.empty:
        return None
    # pooled rows: heterogeneity and prediction interval in the hover; k = 2 flagged (†)
    few = (d["is_pooled"] & (d.get("n_cohorts", np.nan) == 2)).to_numpy()
    labels = [_esc(label) + (" †" if f else "") for label, f in zip(d["label"], few, strict=True)]
    sig = (d["q"] < 0.05).to_numpy()
    extra = [f"<br>tau² = {r.tau2:.3g}, I² = {100 * r.i2:.0f}%"
             + (f", 95% PI {r.pi_low:.3f}-{r.pi_high:.3f}" if hasattr(r, "pi_low") else "")
             if r.is_pooled else "" for r in d.itertuples()]
    fig = go.Figure(go.Scatter(
        x=d["estimate"], y=labels, mode="markers",
        marker={"color": np.where(sig, "#c0392b", "#555555"),
                "size": np.where(d["is_pooled"], 14, 9),
                "symbol": np.where(d["is_pooled"], "diamond", "square")},
        error_x={"type": "data", "symmetric": False, "array": d["ci_high"] - d["estimate"],
                 "arrayminus": d["estimate"] - d["ci_low"], "color": "#777"},
        customdata=np.c_[d["ci_low"], d["ci_high"], d["p"], d["q"], d["n"], extra],
        hovertemplate=("%{y}<br>estimate %{x:.3f} (95% CI %{customdata[0]:.3f}-"
                       "%{customdata[1]:.3f})<br>p = %{customdata[2]:.3g}, q = "
                       "%{customdata[3]:.3g}, n = %{customdata[4]}%{customdata[5]}"
                       "<extra></extra>")))
    ref = 1.0 if analysis != "auc" else 0.5
    fig.add_vline(x=ref, line_dash="dash", line_color="#999")
    title = ("Hazard ratio per SD of score (95% CI); ◆ random-effects pooled; red: q < 0.05"
             if analysis != "auc" else
             "AUC for response (95% DeLong CI); > 0.5: higher in responders; red: q < 0.05")
    if few.any():
        title += ("<br><sup>† pooled over 2 cohorts: tau² is barely estimable; read the "
                  "prediction interval (hover) and the cohorts, not the diamond alone</sup>")
    fig.update_layout(title=title, height=120 + 26 * len(d), showlegend=False)
    if analysis != "auc":
        fig.update_xaxes(type="log", title="HR per SD")
    else:
        fig.update_xaxes(range=[0, 1], title="AUC")
    return _fig_html(fig, div_id)


def volcano_plot(stats: pd.DataFrame, method: str, endpoint: str, div_id: str) -> str | None:
    """Every tested set x cohort of one method and endpoint: effect (HR per SD, log axis; or
    AUC) against -log10 q; pooled estimates as diamonds, q < 0.05 in red, the five smallest q
    labelled, the name, CI, p, q and tier on hover."""
    d = stats[(stats["method"] == method) & (stats["endpoint"] == endpoint)
              & (stats["status"] == "ok")]
    d = d[pd.to_numeric(d["q"], errors="coerce").notna()]
    if d.empty:
        return None
    auc = bool((d["analysis"] == "auc").all())
    q = pd.to_numeric(d["q"]).clip(lower=1e-300).to_numpy(float)
    y = -np.log10(q)
    tiers = ("" if "tier" not in d else
             " · " + d["tier"].fillna("detail").astype(str) + " tier")
    fig = go.Figure()
    pooled_mask = (d["cohort"] == POOLED).to_numpy()
    effect = "AUC" if auc else "HR per SD"
    significant = q < 0.05
    for pooled in (False, True):
        for sig in (True, False):
            m = (pooled_mask == pooled) & (significant == sig)
            if not m.any():
                continue
            g = d[m]
            tier = tiers[m] if isinstance(tiers, pd.Series) else [tiers] * len(g)
            text = [_esc(f"{s} · {'pooled' if pooled else c}{t}")
                    for s, c, t in zip(g["set"], g["cohort"], tier, strict=True)]
            fig.add_trace(go.Scatter(
                x=g["estimate"].to_numpy(float), y=y[m], mode="markers",
                name=("pooled (random effects)" if pooled else "per cohort")
                + (", q < 0.05" if sig else ""),
                marker={"color": "#c0392b" if sig else "#7f8c8d",
                        "symbol": "diamond" if pooled else "circle",
                        "size": 10 if pooled else 6, "opacity": 0.75,
                        "line": {"width": 0.5, "color": "#333"}},
                text=text,
                customdata=np.c_[g["ci_low"].to_numpy(float), g["ci_high"].to_numpy(float),
                                 g["p"].to_numpy(float), q[m]],
                hovertemplate=("%{text}<br>" + effect + " %{x:.3f} (95% CI "
                               "%{customdata[0]:.3f}-%{customdata[1]:.3f})<br>p = "
                               "%{customdata[2]:.3g}, q = %{customdata[3]:.3g}"
                               "<extra></extra>")))
    top = np.argsort(q, kind="stable")[:5]
    for rank, i in enumerate(top):  # labels at staggered heights, so neighbours stay legible
        r = d.iloc[i]
        fig.add_annotation(x=np.log10(r["estimate"]) if not auc else r["estimate"], y=y[i],
                           text=_esc(r["set"]), showarrow=True, arrowhead=0, ax=0,
                           ay=-16 - 16 * (rank % 3), font={"size": 10})
    fig.add_hline(y=-np.log10(0.05), line_dash="dot", line_color="#c0392b",
                  annotation_text="q = 0.05", annotation_position="bottom right")
    fig.add_vline(x=0.5 if auc else 1.0, line_dash="dash", line_color="#999")
    fig.update_layout(
        title=_esc(f"{method} · {ENDPOINT_WORDS.get(endpoint, endpoint)}: {int((q < 0.05).sum())}"
                   f" of {len(d)} tests with q < 0.05"),
        height=460, legend={"orientation": "h", "y": -0.18},
        yaxis_title="-log10 q (BH FDR)")
    if auc:
        fig.update_xaxes(title="AUC for response (> 0.5: higher in responders)")
    else:
        fig.update_xaxes(type="log", title="hazard ratio per SD of score")
    return _fig_html(fig, div_id)


def _time_grid(max_time: float) -> list[float]:
    """At-risk times: every 12 months (24 beyond 10 years) up to the last follow-up."""
    step = 12.0 if max_time <= 120 else 24.0
    return [float(t) for t in np.arange(0.0, max_time + 1e-9, step)]



def _set_menu(labels: list[str], traces_per_set: int, titles: list[str]) -> list[dict]:
    buttons = []
    for k, (label, title) in enumerate(zip(labels, titles, strict=True)):
        vis = [False] * (traces_per_set * len(labels))
        vis[traces_per_set * k: traces_per_set * (k + 1)] = [True] * traces_per_set
        buttons.append({"label": label, "method": "update",
                        "args": [{"visible": vis}, {"title.text": title}]})
    return [{"buttons": buttons, "direction": "down", "x": 1.0, "xanchor": "right", "y": 1.16,
             "yanchor": "top"}]


def _figure_sets(data: CohortData, method: str, stats: pd.DataFrame, limit: int,
                 **where: str) -> list[str]:
    """Detail-tier sets of the cohort that were scored, smallest q first (at most ``limit``)."""
    scored = set(data.scores[method].columns)
    return [s for s in detail_sets(stats, method, cohort=data.cohort, limit=None, **where)
            if s in scored][:limit]


def km_figure(data: CohortData, method: str, stats: pd.DataFrame, div_id: str, *,
              limit: int = MAX_FIGURE_SETS) -> str | None:
    """KM curves (median split) with numbers at risk and a menu to choose the gene set
    (the cohort's detail-tier OS sets, smallest q first, at most ``limit``)."""
    from plotly.subplots import make_subplots

    if "os_time_months" not in data.clinical.columns or method not in data.scores:
        return None
    sets = _figure_sets(data, method, stats, limit, endpoint="os")
    if not sets:
        return None
    scores = data.scores[method]
    clin = data.clinical.reindex(scores.index)
    grid = _time_grid(float(clin["os_time_months"].max()))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.8, 0.2],
                        vertical_spacing=0.1)
    titles = []
    for k, set_name in enumerate(sets):
        curves = km_curves(clin["os_time_months"], clin["os_event"], scores[set_name])
        risk = at_risk_table(clin["os_time_months"], clin["os_event"], scores[set_name], grid)
        for group in ("high", "low"):
            c = curves[curves["group"] == group]
            fig.add_trace(go.Scatter(
                x=c["time"], y=c["survival"], mode="lines", line_shape="hv",
                name=f"{group} score", legendgroup=group, visible=(k == 0),
                line={"color": COLORS[group]}, customdata=c["at_risk"],
                hovertemplate="%{x:.1f} months: S = %{y:.2f}, at risk %{customdata}"
                              "<extra>" + group + "</extra>"), row=1, col=1)
        for group in ("high", "low"):
            fig.add_trace(go.Scatter(
                x=grid, y=[group] * len(grid), text=[str(v) for v in risk.loc[group]],
                mode="text", textfont={"color": COLORS[group]}, showlegend=False,
                visible=(k == 0), hoverinfo="skip"), row=2, col=1)
        row = stat_row(stats, data.cohort, method, set_name, "os")
        p, pm = stat_value(row, "km_logrank_p"), stat_value(row, "maxstat_p")
        # two lines so that the set menu (top right) never covers the p-values
        titles.append(f"{_esc(data.cohort)}: OS by median {_esc(set_name)} ({method})<br>"
                      f"<sup>log-rank p = {p:.3g}; optimised cut-point p (corrected for the "
                      f"search) = {pm:.3g}</sup>")
    fig.update_layout(
        title={"text": titles[0] if titles else ""}, margin={"t": 110},
        updatemenus=_set_menu([_esc(s) for s in sets], 4, titles), height=520,
        # legend inside the empty top-right corner of the curves (survival is low there late on)
        legend={"orientation": "h", "x": 0.99, "xanchor": "right", "y": 0.99, "yanchor": "top",
                "bgcolor": "rgba(255,255,255,0.8)"})
    fig.update_yaxes(title="overall survival", range=[0, 1.02], row=1, col=1)
    # the two at-risk rows sit inside the panel, with no grid lines through the numbers
    fig.update_yaxes(title="at risk", row=2, col=1, fixedrange=True, showgrid=False,
                     zeroline=False, range=[-0.7, 1.7], categoryorder="array",
                     categoryarray=["high", "low"])
    fig.update_xaxes(title="months", tickvals=grid, showgrid=False, row=2, col=1)
    return _fig_html(fig, div_id)


def roc_figure(data: CohortData, method: str, stats: pd.DataFrame, div_id: str, *,
               limit: int = MAX_FIGURE_SETS) -> str | None:
    """ROC curves for calling responders by a high score, one set at a time (the cohort's
    detail-tier response sets, smallest q first, at most ``limit``)."""
    if "response" not in data.clinical.columns or method not in data.scores:
        return None
    scores = data.scores[method]
    clin = _response_subset(data, scores)
    sets = _figure_sets(data, method, stats, limit, endpoint="response")
    if clin["response"].nunique() < 2 or not sets:
        return None
    fig = go.Figure()
    titles = []
    for k, set_name in enumerate(sets):
        roc = roc_points(clin["response"], scores.loc[clin.index, set_name])
        fig.add_trace(go.Scatter(x=roc["fpr"], y=roc["tpr"], mode="lines", line_shape="hv",
                                 visible=(k == 0), name=_esc(set_name),
                                 line={"color": "#1f3a4d"}))
        auc = auc_label(stat_row(stats, data.cohort, method, set_name, "response"))
        titles.append(f"{_esc(data.cohort)}: ROC of {_esc(set_name)} for response; {auc}")
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", showlegend=False,
                             line={"dash": "dash", "color": "#999"}))
    menu = _set_menu([_esc(s) for s in sets], 1, titles)
    for b in menu[0]["buttons"]:
        b["args"][0]["visible"] = b["args"][0]["visible"] + [True]
    menu[0].update(x=0.0, xanchor="left", y=1.13)
    fig.update_layout(title={"text": titles[0], "font": {"size": 13}}, updatemenus=menu,
                      height=500, width=640, margin={"t": 110},
                      showlegend=False, xaxis_title="1 - specificity",
                      yaxis_title="sensitivity", xaxis_range=[0, 1], yaxis_range=[0, 1.02])
    return _fig_html(fig, div_id)


def response_box(data: CohortData, method: str, div_id: str, stats: pd.DataFrame | None = None,
                 *, limit: int = MAX_FIGURE_SETS) -> str | None:
    """Score distributions of responders vs non-responders, one box pair per set (with
    ``stats``: the cohort's detail-tier response sets, smallest q first, at most ``limit``)."""
    if "response" not in data.clinical.columns or method not in data.scores:
        return None
    scores = data.scores[method]
    if stats is not None:
        scores = scores[_figure_sets(data, method, stats, limit, endpoint="response")]
    clin = _response_subset(data, scores)
    if clin.empty or scores.shape[1] == 0:
        return None
    arm_name = data.response_arm
    titles = clin["title"].astype(str) if "title" in clin else pd.Series(clin.index, clin.index)
    fig = go.Figure()
    for value, label, color in ((1.0, "responder", "#27ae60"), (0.0, "non-responder", "#8e44ad")):
        ids = clin.index[clin["response"] == value]
        long = scores.loc[ids].reset_index(names="sample_id").melt(
            id_vars="sample_id", var_name="set", value_name="score")
        hover = [_esc(f"{sid} {titles.get(sid, '')}".strip()) for sid in long["sample_id"]]
        fig.add_trace(go.Box(x=[_esc(s) for s in long["set"]], y=long["score"], name=label,
                             marker_color=color, boxpoints="all", jitter=0.4, pointpos=0,
                             marker={"size": 3, "opacity": 0.5}, text=hover,
                             hovertemplate="%{text}: %{y:.2f}<extra>" + label + "</extra>"))
    fig.update_layout(boxmode="group", height=420, yaxis_title=f"{method} score",
                      title=_esc(f"{data.cohort}: scores by response"
                                 + (f" (arm {arm_name})" if arm_name else "")))
    return _fig_html(fig, div_id)


def correlation_heatmap(data: CohortData, method: str, div_id: str,
                        stats: pd.DataFrame | None = None, *,
                        limit: int = MAX_FIGURE_SETS) -> str | None:
    """Spearman correlation of the scores (with ``stats``: of the cohort's detail-tier sets,
    smallest q first, at most ``limit``)."""
    if method not in data.scores:
        return None
    scores = data.scores[method]
    if stats is not None:
        scores = scores[_figure_sets(data, method, stats, limit)]
    if scores.shape[1] < 2:
        return None
    corr = scores.corr(method="spearman")
    names = [_esc(c) for c in corr.columns]
    fig = go.Figure(go.Heatmap(z=corr.to_numpy(), x=names, y=names, zmin=-1, zmax=1,
                               colorscale="RdBu_r", texttemplate="%{z:.2f}"))
    fig.update_layout(title=_esc(f"{data.cohort}: Spearman correlation of {method} scores"),
                      height=480)
    return _fig_html(fig, div_id)

