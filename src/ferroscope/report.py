"""The collaborator report: one self-contained HTML file (plotly.js embedded once).

It scales with the gene-set collection: the page opens with a summary of the strongest
associations (``id="summary"``), shows one volcano plot per method and endpoint for every tested
set, draws per-set figures (forest, Kaplan-Meier, ROC, box, correlation) only for the detail tier
(see :mod:`ferroscope.plotdata`), and holds coverage and statistics as JSON tables that the
page's own script sorts, filters and pages (no HTML row per result, no CDN). See docs/report.md.

Sections are built by small functions composed in :func:`render`; other modules add theirs
through ``render(..., sections=[Section(...)])``.

All text reaches the page through Jinja2 with autoescaping on; text placed inside plotly
figures (set names, cohort descriptions) is HTML-escaped first, because plotly renders a subset
of HTML in labels; JSON table data is written with ``<``, ``>`` and ``&`` as unicode escapes
and shown by the script as text (never as HTML).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from . import __version__
from .plotdata import (
    MAX_FIGURE_SETS,
    auc_label,
    detail_sets,
    forest_rows,
    is_detail,
    stat_row,
    stat_value,
)
from .response import roc_points, treated_subset
from .statistics import POOLED
from .survival import at_risk_table, km_curves, median_followup

COLORS = {"high": "#c0392b", "low": "#2471a3"}


@dataclass
class CohortData:
    """What the report needs of one cohort."""

    cohort: str
    clinical: pd.DataFrame               # standard table, index sample_id
    coverage: pd.DataFrame
    scores: dict[str, pd.DataFrame]      # method -> samples x sets
    description: str = ""
    platform: str = ""
    n_genes: int = 0
    prepare_notes: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    #: per clinical mapping (os_event, response, arm, ...): samples kept and dropped
    clinical_mapping: list[dict[str, Any]] = field(default_factory=list)
    #: the treated arm of the response analysis (config clinical.response.arm; "" = all)
    response_arm: str = ""


def mapping_summary(records: list[dict[str, Any]]) -> list[str]:
    """One line per clinical mapping: what it kept and what it dropped, and why."""
    lines = []
    for r in records:
        why = [f"{k.replace('_', ' ')} {v}" for k, v in r.items()
               if k in ("events", "censored", "responders", "non_responders", "excluded",
                        "missing", "event_missing", "time_missing") and v]
        if isinstance(r.get("arms"), dict):
            why = [f"{k} {v}" for k, v in r["arms"].items()] + why
        lines.append(f"{r['mapping']} ({r['column']}): {r['kept']} kept, {r['dropped']} dropped"
                     + (f" ({', '.join(why)})" if why else ""))
    return lines


def missing_endpoints(data: CohortData, endpoints: list[str]) -> list[str]:
    """Endpoints of survival.endpoints that this cohort does not map (not tested in it)."""
    return [ep for ep in endpoints if f"{ep}_time_months" not in data.clinical.columns]


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


@dataclass
class Section:
    """A report section built outside this module (genes, tissue, ...): ``html`` is markup the
    caller built with every public text escaped (:func:`escape`); it is placed after the
    built-in section ``after`` (an id of :data:`SECTION_ORDER`) and linked in the menu."""

    id: str
    title: str
    html: str
    after: str = "statistics"


#: Built-in sections, in page order (each an ``id`` in the page).
SECTION_ORDER = ("summary", "cohorts", "coverage", "survival", "response", "risk", "correlation",
                 "statistics", "genesets", "methods", "provenance")

ENDPOINT_WORDS = {"os": "overall survival", "rfs": "recurrence-free survival",
                  "dfs": "disease-free survival", "pfi": "progression-free interval",
                  "dss": "disease-specific survival", "response": "response"}


def escape(text: object) -> str:
    """HTML-escape public text for a :class:`Section`'s markup."""
    return _esc(text)


def json_for_script(obj: object) -> str:
    """JSON safe inside ``<script type="application/json">``: ``<``, ``>``, ``&`` escaped."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


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


_TEMPLATE: dict[str, Any] = {}


def _fig_html(fig: go.Figure, div_id: str) -> str:
    """The figure as a ``<div>`` (plotly.js is in the page head once).

    The house style is merged into the figure's JSON rather than through ``update_layout``,
    and the JSON is not validated a second time: plotly copies and re-validates its whole
    template on every layout update, which cost seconds per figure at collection scale.
    """
    if not _TEMPLATE:
        _TEMPLATE.update(pio.templates["plotly_white"].to_plotly_json())
    spec = fig.to_plotly_json()
    layout = spec.setdefault("layout", {})
    layout["template"] = _TEMPLATE
    layout["margin"] = {**layout.get("margin", {}), "l": 60, "r": 20, "t": 50, "b": 50}
    layout["font"] = {**layout.get("font", {}), "family": "Helvetica, Arial, sans-serif",
                      "size": 12}
    return pio.to_html(spec, full_html=False, include_plotlyjs=False, div_id=div_id,
                       validate=False, config={"displaylogo": False, "responsive": True})


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


def _response_subset(data: CohortData, scores: pd.DataFrame) -> pd.DataFrame:
    """Scored patients with a response label, in the cohort's response arm if set."""
    return treated_subset(data.clinical.reindex(scores.index), data.response_arm)


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


def cohort_summary(data: CohortData) -> dict[str, Any]:
    c = data.clinical
    row: dict[str, Any] = {"cohort": data.cohort, "description": data.description,
                           "platform": data.platform, "samples": len(c), "genes": data.n_genes}
    if "os_time_months" in c.columns:
        ok = c[["os_time_months", "os_event"]].dropna()
        row["os_n"] = len(ok)
        row["os_events"] = int(ok["os_event"].sum())
        followup = median_followup(ok["os_time_months"], ok["os_event"])
        row["followup"] = NOT_REACHED if np.isinf(followup) else followup
    if "response" in c.columns:
        r = c["response"].dropna()
        row["responders"] = f"{int((r == 1).sum())} / {len(r)}"
    n = data.prepare_notes
    row["scale"] = n.get("scale") or str(n.get("scale_detected", "")).split(" ")[0]
    row["score_meaning"] = n.get("score_meaning", "")
    dropped = n.get("missing_genes_dropped", {})
    row["missing"] = (f"{len(dropped)} genes dropped (missing in > "
                      f"{100 * n.get('missing_max_fraction', 0.2):.0f}% of samples); "
                      f"{n.get('missing_cells_kept', 0)} missing cells left in "
                      f"{n.get('missing_genes_kept', 0)} genes"
                      if n.get("missing_cells_input") else "none")
    return row


def download_records(cohort: str, files: Iterable[str | Path]) -> list[dict[str, Any]]:
    """The download record of each of a cohort's public files, for the provenance section.

    Read from the manifest ``<file>.sha256.json`` the fetch step writes (url, bytes, sha256,
    fetched); a file without one (placed by hand) is listed with its own size and checksum and
    an empty URL, never silently left out.
    """
    from .download import manifest_path
    from .errors import FerroscopeError
    from .io import sha256sum

    out = []
    for f in map(Path, files):
        man = manifest_path(f)
        if man.is_file():
            try:
                meta = json.loads(man.read_text())
                rec = {k: meta[k] for k in ("url", "bytes", "sha256", "fetched")}
            except (ValueError, KeyError) as exc:
                raise FerroscopeError(f"download record is unreadable ({exc}).", file=str(man),
                                      fix="delete it and the downloaded file, then run the "
                                          "workflow again to fetch the file anew.") from exc
        else:
            rec = {"url": "", "bytes": f.stat().st_size, "sha256": sha256sum(f),
                   "fetched": "no download record (file placed by hand)"}
        out.append({"cohort": cohort, "file": f.name, **rec})
    return out


def method_table(methods: list[str]) -> list[dict[str, str]]:
    """Name, summary and reference of each method of the run, as each method module declares
    them (``METHOD`` in ``ferroscope.scoring.<name>``); an unknown name stops, naming the
    registered ones."""
    from .scoring import method

    return [{"name": m, "summary": method(m).summary, "reference": method(m).reference}
            for m in methods]


def scoring_runs_table(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the report's scoring table from the score step's JSON sidecars
    (results/<cohort>/scores/<method>.json): per cohort x method the missing cells, NA
    scores and, for GSVA, the kernel used and why (kcdf auto decides per cohort)."""
    rows = []
    for r in records:
        rows.append({
            "cohort": r.get("cohort", ""), "method": r.get("method", ""),
            "samples": r.get("n_samples", ""), "genes": r.get("n_genes", ""),
            "kernel": r.get("kcdf", ""), "reason": r.get("kcdf_reason", ""),
            "missing_cells": r.get("missing_cells", 0),
            "missing_member_cells": r.get("missing_member_cells", 0),
            "na_scores": f"{r.get('na_scores', 0)} / {r.get('n_scores', 0)}",
            "policy": r.get("missing_policy", ""),
        })
    return rows


STAT_COLUMNS = ["cohort", "method", "set", "endpoint", "tier", "estimate", "ci_low", "ci_high",
                "p", "q", "p_lr", "c_index", "ph_p", "hr_early", "hr_late", "hr_adj", "p_adj",
                "km_logrank_p", "km_median_high", "km_median_low", "km_tertile_p",
                "maxstat_cutpoint", "maxstat_p", "td_auc_12", "td_auc_36", "td_auc_60",
                "or_per_sd", "p_logit", "or_treated", "or_control", "p_interaction", "tau2", "i2",
                "pi_low", "pi_high", "n", "events", "status", "note"]
COVERAGE_COLUMNS = ["cohort", "set", "n_genes", "n_present", "coverage_percent", "scored",
                    "missing", "missing_reasons", "aliases_used"]
SUMMARY_TOP = 10
#: The analyses the summary, the volcano plots and the tier counts are about (outcome
#: associations); other rows (tumour vs non-tumour, ...) have their own sections.
OUTCOME_ANALYSES = ("cox_hr_per_sd", "auc")


def _outcome(stats: pd.DataFrame) -> pd.DataFrame:
    return stats[stats["analysis"].isin(OUTCOME_ANALYSES)]


def _endpoint_order(stats: pd.DataFrame) -> list[str]:
    """Endpoints present in the table: survival endpoints in their usual order, then response."""
    present = set(stats["endpoint"].dropna().astype(str))
    known = [e for e in ENDPOINT_WORDS if e in present]
    return known + sorted(present - set(known))


def _estimate_text(r: Any) -> str:
    """"1.60 (1.32-1.95)": an HR or AUC with its 95% CI, two decimals."""
    return f"{r.estimate:.2f} ({r.ci_low:.2f}-{r.ci_high:.2f})"


def _sentence(r: Any, endpoint: str, method: str) -> str:
    """The strongest association of one endpoint, in words."""
    where = (f"pooled over {int(r.n_cohorts)} cohorts" if r.cohort == POOLED and
             pd.notna(getattr(r, "n_cohorts", np.nan)) else f"in {r.cohort}")
    if r.q >= 0.05:
        return (f"No set reached q < 0.05 for {ENDPOINT_WORDS.get(endpoint, endpoint)} "
                f"({method}); the smallest q was {_fmt(r.q)} ({r.set}, {where}).")
    if endpoint == "response":
        way = "responders" if r.estimate > 0.5 else "non-responders"
        return (f"Strongest association with response ({method}): {r.set} scores were higher "
                f"in {way}, AUC {_estimate_text(r)}, q = {_fmt(r.q)}, {where}.")
    way = "shorter" if r.estimate > 1 else "longer"
    return (f"Strongest association with {ENDPOINT_WORDS.get(endpoint, endpoint)} ({method}): "
            f"higher {r.set} scores went with {way} survival, HR {_estimate_text(r)} per SD, "
            f"q = {_fmt(r.q)}, {where}.")


def summary_section(stats: pd.DataFrame, methods: list[str], primary: str, *,
                    top: int = SUMMARY_TOP) -> dict[str, Any]:
    """The opening section: per method x endpoint how many tests reached q < 0.05, and per
    endpoint the primary method's strongest associations (pooled estimates first, then single
    cohorts; each at most ``top``), with the same set's estimate under the other methods."""
    stats = _outcome(stats)
    ok = stats[(stats["status"] == "ok") & pd.to_numeric(stats["q"], errors="coerce").notna()]
    counts = []
    for m in methods:
        for ep in _endpoint_order(ok):
            d = ok[(ok["method"] == m) & (ok["endpoint"] == ep)]
            if d.empty:
                continue
            pooled = d["cohort"] == POOLED
            counts.append({"method": m, "endpoint": ENDPOINT_WORDS.get(ep, ep),
                           "tests": int((~pooled).sum()),
                           "significant": int((d.loc[~pooled, "q"] < 0.05).sum()),
                           "pooled": int(pooled.sum()),
                           "pooled_significant": int((d.loc[pooled, "q"] < 0.05).sum())})
    others = {(r.method, r.cohort, r.set, r.endpoint): (r.estimate, r.q)
              for r in ok[ok["method"] != primary].itertuples()}
    endpoints = []
    main = ok[ok["method"] == primary]
    for ep in _endpoint_order(main):
        d = main[main["endpoint"] == ep]
        is_pooled = d["cohort"] == POOLED
        groups = [("pooled across cohorts (random effects)", d[is_pooled]),
                  ("single cohorts", d[~is_pooled])]
        blocks = []
        for label, g in groups:
            g = g.sort_values(["q", "p", "set"], kind="stable").head(top)
            if g.empty:
                continue
            rows = []
            for r in g.itertuples():
                also = [f"{m} {_fmt(others[k][0])} (q {_fmt(others[k][1])})"
                        for m in methods if m != primary
                        and (k := (m, r.cohort, r.set, r.endpoint)) in others]
                rows.append({"set": r.set, "cohort": r.cohort, "estimate": _estimate_text(r),
                             "p": _fmt(r.p), "q": _fmt(r.q), "significant": r.q < 0.05,
                             "other_methods": "; ".join(also)})
            blocks.append({"label": label, "rows": rows})
        best = d[is_pooled] if (d.loc[is_pooled, "q"] < 0.05).any() else d
        best = best.sort_values(["q", "p", "set"], kind="stable")
        endpoints.append({
            "endpoint": ep, "words": ENDPOINT_WORDS.get(ep, ep),
            "effect": "AUC (95% CI)" if ep == "response" else "HR per SD (95% CI)",
            "sentence": _sentence(next(best.itertuples()), ep, primary), "blocks": blocks})
    return {"counts": counts, "endpoints": endpoints, "primary": primary, "top": top}


def volcano_section(stats: pd.DataFrame, methods: list[str]) -> list[dict[str, Any]]:
    """One volcano per method x endpoint with a test (survival endpoints, then response)."""
    stats = _outcome(stats)
    out = []
    for ep in _endpoint_order(stats):
        for m in methods:
            fig = volcano_plot(stats, m, ep, f"volcano-{ep}-{m}")
            if fig is not None:
                out.append({"method": m, "endpoint": ep, "response": ep == "response",
                            "figure": fig})
    return out


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


def cohort_block(d: CohortData, i: int, stats: pd.DataFrame, config: dict[str, Any],
                 primary: str, limit: int) -> dict[str, Any]:
    """Everything the page shows of one cohort (its figures drawn for the detail tier)."""
    return {
        "summary": cohort_summary(d),
        "km": km_figure(d, primary, stats, f"km-{i}", limit=limit),
        "box": response_box(d, primary, f"box-{i}", stats, limit=limit),
        "roc": roc_figure(d, primary, stats, f"roc-{i}", limit=limit),
        "heatmap": correlation_heatmap(d, primary, f"heat-{i}", _outcome(stats), limit=limit),
        "notes": d.prepare_notes,
        "mapping": mapping_summary(d.clinical_mapping),
        "missing_endpoints": missing_endpoints(
            d, list(config.get("survival", {}).get("endpoints", []))),
        "not_tested": stats[(stats["cohort"] == d.cohort) & (stats["status"] != "ok")]
        .to_dict("records"),
        "not_scored": d.coverage[~d.coverage["scored"].astype(bool)].to_dict("records"),
    }


def tier_counts(stats: pd.DataFrame, primary: str, limit: int) -> dict[str, Any]:
    """How many tested rows are in each tier, and how many sets the figures draw."""
    stats = _outcome(stats)
    ok = stats[stats["status"] == "ok"]
    detail = is_detail(ok)
    return {"has_tier": "tier" in stats.columns, "detail": int(detail.sum()),
            "screening": int((~detail).sum()), "limit": limit,
            "detail_sets": len(detail_sets(stats, primary, limit=None))}


def render(stats: pd.DataFrame, cohorts: list[CohortData], config: dict[str, Any], *,
           genesets: list[dict[str, Any]], inputs: list[dict[str, Any]],
           software: dict[str, str], created: str, risk: RiskData | None = None,
           downloads: list[dict[str, Any]] | None = None,
           scoring_runs: list[dict[str, Any]] | None = None, tissue: str = "",
           sections: list[Section] | None = None,
           max_figure_sets: int = MAX_FIGURE_SETS) -> str:
    """Render the whole report to a string (``downloads``: :func:`download_records` rows;
    ``scoring_runs``: the score step's JSON sidecars, see :func:`scoring_runs_table`;
    ``tissue``: :func:`ferroscope.report_tissue.section` HTML; ``sections``: extra sections
    built by other modules; ``max_figure_sets``: most sets drawn in one per-set figure)."""
    methods = list(config["scoring"]["methods"])
    primary = config["scoring"].get("primary", methods[0])
    limit = max_figure_sets
    forests = {m: forest_plot(stats, m, "cox_hr_per_sd", f"forest-os-{m}", limit=limit)
               for m in methods}
    auc_forests = {m: forest_plot(stats, m, "auc", f"forest-auc-{m}", limit=limit)
                   for m in methods}
    per_cohort = [cohort_block(d, i, stats, config, primary, limit)
                  for i, d in enumerate(cohorts)]
    extra = list(sections or [])
    known = set(SECTION_ORDER)
    for sec in extra:
        if sec.after not in known:
            raise ValueError(f"section {sec.id!r}: after={sec.after!r} is not one of "
                             f"{', '.join(SECTION_ORDER)}")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("ferroscope") / "templates")),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined)
    env.filters["fmt"] = _fmt
    template = env.get_template("report.html.j2")
    return template.render(
        title=config.get("report", {}).get("title", "ferroscope report"),
        plotlyjs=get_plotlyjs(), version=__version__, created=created, config=config,
        config_json=json.dumps(config, indent=2, sort_keys=True, default=str),
        methods=methods, primary=primary, forests=forests, auc_forests=auc_forests,
        cohorts=per_cohort, summary=summary_section(stats, methods, primary),
        volcanoes=volcano_section(stats, methods), tiers=tier_counts(stats, primary, limit),
        stats_json=json_for_script(statistics_table(stats)),
        coverage_json=json_for_script(coverage_table(cohorts)),
        genesets=genesets, inputs=inputs, software=software, downloads=downloads or [],
        scoring_runs=scoring_runs_table(scoring_runs or []),
        method_info=method_table(methods), extra_sections=extra,
        n_sig=int((stats["q"] < 0.05).sum()), n_tests=int(stats["p"].notna().sum()),
        risk=risk_section(risk, stats),
        tissue=tissue,  # ferroscope.report_tissue.section (HTML, already escaped)
    )


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


def _fmt(value: object, digits: int = 3) -> str:
    """Numbers for tables: empty for NaN, scientific for very small or large values."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_) or not isinstance(value, float | np.floating):
        return str(value)
    v = float(value)
    if np.isnan(v):
        return ""
    if v != 0 and (abs(v) < 10.0 ** -digits or abs(v) >= 1e5):
        return f"{v:.{digits - 1}e}"
    if abs(v) < 1:
        return f"{v:.{digits}g}"
    return f"{v:.{digits}f}".rstrip("0").rstrip(".")


# --- Risk signatures (published coefficient signatures and frozen penalised Cox models) ---

@dataclass
class RiskData:
    """What the "Risk signatures" section needs (results/signatures/*, results/models/*)."""

    scores: pd.DataFrame                 # cohort, signature, role, sample_id, risk, group
    coverage: pd.DataFrame
    calibration: pd.DataFrame
    signatures: list[Any]                # ferroscope.signatures.Signature (published + frozen)
    models: list[dict[str, Any]]         # model.json contents
    clinical: dict[str, pd.DataFrame]    # cohort -> standard clinical table
    not_trained: dict[str, str] = field(default_factory=dict)
    # trained-model CV stability and calibration (ferroscope.report_models.ModelsView)
    models_view: Any = None


def _risk_label(cohort: str, role: str) -> str:
    return _esc(f"{cohort} (training: optimistic)" if role == "training" else cohort)


def risk_td_roc_figure(risk: RiskData, sig: str, stats: pd.DataFrame, div_id: str,
                       horizon: float = 36.0) -> str | None:
    """Cumulative/dynamic ROC at ``horizon`` months per cohort (IPCW), AUC in the legend."""
    from .riskmodel import td_roc

    d = risk.scores[risk.scores["signature"] == sig]
    fig = go.Figure()
    for (cohort, role), g in d.groupby(["cohort", "role"], sort=True):
        clin = risk.clinical.get(cohort)
        if clin is None or "os_time_months" not in clin:
            continue
        c = clin.reindex(g["sample_id"])
        roc = td_roc(c["os_time_months"].to_numpy(), c["os_event"].to_numpy(),
                     g["risk"].to_numpy(), horizon)
        if roc.empty:
            continue
        row = stats[(stats["cohort"] == cohort) & (stats["set"] == sig)
                    & (stats["method"] == "signature")]
        auc = row[f"td_auc_{int(horizon)}"].iloc[0] if len(row) else np.nan
        fig.add_trace(go.Scatter(x=roc["fpr"], y=roc["tpr"], mode="lines", line_shape="hv",
                                 line={"dash": "dot" if role == "training" else "solid"},
                                 name=f"{_risk_label(cohort, role)}: AUC {auc:.2f}"))
    if not fig.data:
        return None
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", showlegend=False,
                             line={"dash": "dash", "color": "#999"}))
    fig.update_layout(title=_esc(f"{sig}: ROC at {horizon / 12:g} years")
                      + "<br><sup>time-dependent (cumulative/dynamic, IPCW)</sup>",
                      height=430, width=560, margin={"t": 80},
                      legend={"x": 0.98, "xanchor": "right", "y": 0.02, "yanchor": "bottom"},
                      xaxis_title="1 - specificity", yaxis_title="sensitivity")
    return _fig_html(fig, div_id)


def risk_calibration_figure(risk: RiskData, sig: str, div_id: str) -> str | None:
    """Predicted vs Kaplan-Meier observed 3-year survival by risk group, per cohort."""
    d = risk.calibration[risk.calibration["signature"] == sig]
    if d.empty:
        return None
    fig = go.Figure()
    for (cohort, role), g in d.groupby(["cohort", "role"], sort=True):
        fig.add_trace(go.Scatter(
            x=g["predicted"], y=g["observed"], mode="markers+text", text=g["group"],
            textposition="top center", name=_risk_label(cohort, role),
            marker={"size": 11, "symbol": "circle-open" if role == "training" else "circle"},
            error_y={"type": "data", "symmetric": False,
                     "array": g["observed_ci_high"] - g["observed"],
                     "arrayminus": g["observed"] - g["observed_ci_low"]}))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", showlegend=False,
                             line={"dash": "dash", "color": "#999"}))
    fig.update_layout(title=_esc(f"{sig}: calibration at 3 years")
                      + "<br><sup>predicted S0(36)^exp(risk) vs Kaplan-Meier, by risk group</sup>",
                      height=430, width=560, margin={"t": 80},
                      xaxis_title="predicted 3-year survival", yaxis_range=[0, 1.02],
                      yaxis_title="observed 3-year survival (KM, 95% CI)", xaxis_range=[0, 1])
    return _fig_html(fig, div_id)


def risk_km_figure(risk: RiskData, sig: str, cohort: str, role: str, stats: pd.DataFrame,
                   div_id: str) -> str | None:
    """KM curves of OS by risk group (signature's cut-off rule) in one cohort."""
    from lifelines import KaplanMeierFitter

    d = risk.scores[(risk.scores["signature"] == sig) & (risk.scores["cohort"] == cohort)]
    clin = risk.clinical.get(cohort)
    if d.empty or clin is None or "os_time_months" not in clin:
        return None
    c = clin.reindex(d["sample_id"])
    fig = go.Figure()
    for group in ("high", "low"):
        flag = (d["group"] == group).to_numpy()
        ok = flag & c["os_time_months"].notna().to_numpy()
        if ok.sum() == 0:
            continue
        kmf = KaplanMeierFitter().fit(c["os_time_months"][ok], c["os_event"][ok])
        sf = kmf.survival_function_
        fig.add_trace(go.Scatter(x=sf.index, y=sf.iloc[:, 0], mode="lines", line_shape="hv",
                                 name=f"{group} risk (n = {int(ok.sum())})",
                                 line={"color": COLORS[group]}))
    row = stats[(stats["cohort"] == cohort) & (stats["set"] == sig)
                & (stats["method"] == "signature")]
    hr = (f"HR high vs low {row['hr_high_low'].iloc[0]:.2f} "
          f"({row['hr_high_low_ci_low'].iloc[0]:.2f}-{row['hr_high_low_ci_high'].iloc[0]:.2f})"
          if len(row) and "hr_high_low" in row and np.isfinite(row["hr_high_low"].iloc[0])
          else "")
    fig.update_layout(title=f"{_risk_label(cohort, role)}: OS by risk group"
                            f"<br><sup>{_esc(sig)}; {hr}</sup>", height=380, width=560,
                      xaxis_title="months", yaxis_title="overall survival",
                      yaxis_range=[0, 1.02], margin={"t": 80})
    return _fig_html(fig, div_id)


def risk_section(risk: RiskData | None, stats: pd.DataFrame) -> dict[str, Any] | None:
    """Tables and figures of the "Risk signatures" section (None when no signature is used)."""
    if risk is None:
        return None
    sig_stats = stats[stats["method"] == "signature"]
    blocks = []
    for k, sig in enumerate(risk.signatures):
        pairs = (risk.scores.loc[risk.scores["signature"] == sig.name, ["cohort", "role"]]
                 .drop_duplicates().itertuples(index=False))
        blocks.append({
            "name": sig.name, "meta": sig.meta,
            "coefficients": [{"gene": g, "coefficient": float(v)}
                             for g, v in sig.coefficients.items()],
            "coverage": risk.coverage[risk.coverage["signature"] == sig.name]
            .to_dict("records"),
            "roc": risk_td_roc_figure(risk, sig.name, sig_stats, f"risk-roc-{k}"),
            "calibration": risk_calibration_figure(risk, sig.name, f"risk-cal-{k}"),
            "km": [risk_km_figure(risk, sig.name, c, r, sig_stats, f"risk-km-{k}-{j}")
                   for j, (c, r) in enumerate(pairs)],
        })
    return {
        "blocks": blocks, "models": risk.models, "not_trained": risk.not_trained,
        "forest": forest_plot(sig_stats, "signature", "cox_hr_per_sd", "risk-forest",
                              limit=None, detail_only=False),
        "forest_training": forest_plot(sig_stats, "signature", "cox_hr_per_sd_training",
                                       "risk-forest-training", limit=None, detail_only=False),
        "rows": sig_stats.to_dict("records"),
        # --- risk-model fragments (CV repeats, selection frequency, calibration) live in
        # ferroscope.report_models; shown after the model paragraphs ---
        "models_html": _models_html(risk, sig_stats),
    }


def _models_html(risk: RiskData, sig_stats: pd.DataFrame) -> str:
    from .report_models import models_html

    return models_html(risk.models_view, risk.models, sig_stats)
