"""The collaborator report: one self-contained HTML file (plotly.js embedded once).

All text reaches the page through Jinja2 with autoescaping on; text placed inside plotly
figures (set names, cohort descriptions) is HTML-escaped first, because plotly renders a subset
of HTML in labels.
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
from .plotdata import auc_label, forest_rows, stat_row, stat_value
from .response import roc_points, treated_subset
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
    d = forest_rows(stats, method, analysis)
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


def render(stats: pd.DataFrame, cohorts: list[CohortData], config: dict[str, Any], *,
           genesets: list[dict[str, Any]], inputs: list[dict[str, Any]],
           software: dict[str, str], created: str, risk: RiskData | None = None,
           downloads: list[dict[str, Any]] | None = None,
           scoring_runs: list[dict[str, Any]] | None = None, tissue: str = "") -> str:
    """Render the whole report to a string (``downloads``: :func:`download_records` rows;
    ``scoring_runs``: the score step's JSON sidecars, see :func:`scoring_runs_table`)."""
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
    table = show_medians(stats)
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
        genesets=genesets, inputs=inputs, software=software, downloads=downloads or [],
        scoring_runs=scoring_runs_table(scoring_runs or []),
        method_info=method_table(methods),
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
        "forest": forest_plot(sig_stats, "signature", "cox_hr_per_sd", "risk-forest"),
        "forest_training": forest_plot(sig_stats, "signature", "cox_hr_per_sd_training",
                                       "risk-forest-training"),
        "rows": sig_stats.to_dict("records"),
        # --- risk-model fragments (CV repeats, selection frequency, calibration) live in
        # ferroscope.report_models; shown after the model paragraphs ---
        "models_html": _models_html(risk, sig_stats),
    }


def _models_html(risk: RiskData, sig_stats: pd.DataFrame) -> str:
    from .report_models import models_html

    return models_html(risk.models_view, risk.models, sig_stats)
