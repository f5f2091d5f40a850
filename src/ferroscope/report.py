"""The collaborator report: one self-contained HTML file (plotly.js embedded once).

All text reaches the page through Jinja2 with autoescaping on; text placed inside plotly
figures (set names, cohort descriptions) is HTML-escaped first, because plotly renders a subset
of HTML in labels.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import jinja2
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from . import __version__
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


def _fig_html(fig: go.Figure, div_id: str) -> str:
    fig.update_layout(template="plotly_white", margin={"l": 60, "r": 20, "t": 50, "b": 50},
                      font={"family": "Helvetica, Arial, sans-serif", "size": 12})
    return pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


def forest_plot(stats: pd.DataFrame, method: str, analysis: str, div_id: str) -> str | None:
    """HR per SD (log axis) or AUC per set x cohort with 95% CI; pooled estimates as diamonds."""
    d = stats[(stats["method"] == method) & (stats["analysis"] == analysis)
              & (stats["status"] == "ok")].copy()
    if d.empty:
        return None
    d["is_pooled"] = d["cohort"] == POOLED
    d = d.sort_values(["set", "is_pooled", "cohort", "endpoint"],
                      ascending=[False, False, False, False])  # pooled row last (bottom)
    labels = []
    for r in d.itertuples():
        who = f"pooled ({int(r.n_cohorts)} cohorts)" if r.is_pooled else str(r.cohort)
        labels.append(_esc(f"{r.set} · {who}" + (f" · {r.endpoint}" if analysis != "auc"
                                                  else "")))
    sig = (d["q"] < 0.05).to_numpy()
    extra = [f"<br>tau² = {r.tau2:.3g}, I² = {100 * r.i2:.0f}%" if r.is_pooled else ""
             for r in d.itertuples()]
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
    fig.update_layout(title=title, height=120 + 26 * len(d), showlegend=False)
    if analysis != "auc":
        fig.update_xaxes(type="log", title="HR per SD")
    else:
        fig.update_xaxes(range=[0, 1], title="AUC")
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


def km_figure(data: CohortData, method: str, stats: pd.DataFrame, div_id: str) -> str | None:
    """KM curves (median split) with numbers at risk and a menu to choose the gene set."""
    from plotly.subplots import make_subplots

    if "os_time_months" not in data.clinical.columns or method not in data.scores:
        return None
    scores = data.scores[method]
    clin = data.clinical.reindex(scores.index)
    grid = _time_grid(float(clin["os_time_months"].max()))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.8, 0.2],
                        vertical_spacing=0.1)
    sets = list(scores.columns)
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
        row = stats[(stats["cohort"] == data.cohort) & (stats["method"] == method)
                    & (stats["set"] == set_name) & (stats["endpoint"] == "os")]
        p = row["km_logrank_p"].iloc[0] if len(row) and "km_logrank_p" in row else np.nan
        pm = row["maxstat_p"].iloc[0] if len(row) and "maxstat_p" in row else np.nan
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


def roc_figure(data: CohortData, method: str, stats: pd.DataFrame, div_id: str) -> str | None:
    """ROC curves for calling responders by a high score, one set at a time."""
    if "response" not in data.clinical.columns or method not in data.scores:
        return None
    scores = data.scores[method]
    clin = _response_subset(data, scores)
    if clin["response"].nunique() < 2:
        return None
    fig = go.Figure()
    titles = []
    sets = list(scores.columns)
    for k, set_name in enumerate(sets):
        roc = roc_points(clin["response"], scores.loc[clin.index, set_name])
        fig.add_trace(go.Scatter(x=roc["fpr"], y=roc["tpr"], mode="lines", line_shape="hv",
                                 visible=(k == 0), name=_esc(set_name),
                                 line={"color": "#1f3a4d"}))
        row = stats[(stats["cohort"] == data.cohort) & (stats["method"] == method)
                    & (stats["set"] == set_name) & (stats["endpoint"] == "response")]
        r = row.iloc[0] if len(row) else None
        auc = (f"AUC {r['estimate']:.2f} ({r['ci_low']:.2f}-{r['ci_high']:.2f})"
               if r is not None and r["status"] == "ok" else "not tested")
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


def response_box(data: CohortData, method: str, div_id: str) -> str | None:
    """Score distributions of responders vs non-responders, one box pair per set."""
    if "response" not in data.clinical.columns or method not in data.scores:
        return None
    scores = data.scores[method]
    clin = _response_subset(data, scores)
    if clin.empty:
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


def correlation_heatmap(data: CohortData, method: str, div_id: str) -> str | None:
    if method not in data.scores or data.scores[method].shape[1] < 2:
        return None
    corr = data.scores[method].corr(method="spearman")
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
        row["followup"] = median_followup(ok["os_time_months"], ok["os_event"])
    if "response" in c.columns:
        r = c["response"].dropna()
        row["responders"] = f"{int((r == 1).sum())} / {len(r)}"
    return row


def render(stats: pd.DataFrame, cohorts: list[CohortData], config: dict[str, Any], *,
           genesets: list[dict[str, Any]], inputs: list[dict[str, Any]],
           software: dict[str, str], created: str) -> str:
    """Render the whole report to a string."""
    methods = list(config["scoring"]["methods"])
    primary = config["scoring"].get("primary", methods[0])
    forests = {m: forest_plot(stats, m, "cox_hr_per_sd", f"forest-os-{m}") for m in methods}
    auc_forests = {m: forest_plot(stats, m, "auc", f"forest-auc-{m}") for m in methods}
    per_cohort = []
    for i, d in enumerate(cohorts):
        per_cohort.append({
            "summary": cohort_summary(d),
            "coverage": d.coverage.to_dict("records"),
            "km": km_figure(d, primary, stats, f"km-{i}"),
            "box": response_box(d, primary, f"box-{i}"),
            "roc": roc_figure(d, primary, stats, f"roc-{i}"),
            "heatmap": correlation_heatmap(d, primary, f"heat-{i}"),
            "notes": d.prepare_notes,
            "mapping": mapping_summary(d.clinical_mapping),
            "missing_endpoints": missing_endpoints(
                d, list(config.get("survival", {}).get("endpoints", []))),
            "not_tested": stats[(stats["cohort"] == d.cohort) & (stats["status"] != "ok")]
            .to_dict("records"),
            "not_scored": d.coverage[~d.coverage["scored"].astype(bool)].to_dict("records"),
        })
    table = stats.copy()
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
        cohorts=per_cohort, stats=table.to_dict("records"), stats_columns=list(table.columns),
        genesets=genesets, inputs=inputs, software=software,
        n_sig=int((stats["q"] < 0.05).sum()), n_tests=int(stats["p"].notna().sum()),
    )


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
