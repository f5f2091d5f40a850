"""Report fragments of the penalised Cox risk models: CV stability and calibration.

HTML fragments (strings) for the report's risk-signature section, kept apart from
:mod:`ferroscope.report` so the risk-model display has one home:

* :func:`selection_html`: lambda over the cross-validation repeats and each gene's selection
  frequency (share of repeats whose own penalty selects it; ``results/models/<m>/selection.tsv``).
* :func:`calibration_html`: per validation cohort the calibration slope (Cox coefficient of the
  locked linear predictor, 95% CI) and calibration-in-the-large at 3 years (Kaplan-Meier observed
  vs mean predicted survival, O/E ratio of the event probability with its 95% CI), and the
  smoothed calibration curve (Austin, Harrell & van Klaveren 2020) where events allow.

Every value from a file passes through :func:`html.escape` before it reaches the page.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

#: columns of the statistics table shown in the calibration table: header, with a CI
CALIBRATION_COLUMNS = (
    ("calib_slope", "calibration slope (95% CI)", True),
    ("calib_oe_36", "O/E at 3 y (95% CI)", True),
    ("calib_observed_36", "observed 3-y survival (KM, 95% CI)", True),
    ("calib_predicted_36", "mean predicted 3-y survival", False),
    ("calib_ici_36", "ICI", False),
)


@dataclass
class ModelsView:
    """What the risk-model fragments need: selection tables and calibration curves."""

    selection: dict[str, pd.DataFrame] = field(default_factory=dict)   # model -> selection.tsv
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)          # calibration_curve.tsv

    @classmethod
    def read(cls, model_json: list[str], curve_path: str | None) -> ModelsView:
        """From the rule inputs: model.json paths (selection.tsv beside each) and the curves."""
        selection = {}
        for path in model_json:
            sel = Path(path).with_name("selection.tsv")
            if sel.is_file():
                selection[Path(path).parent.name] = pd.read_csv(sel, sep="\t")
        curves = (pd.read_csv(curve_path, sep="\t") if curve_path and Path(curve_path).is_file()
                  else pd.DataFrame())
        return cls(selection, curves)


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 3) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return ""
    return "" if not np.isfinite(v) else f"{v:.{digits}g}" if abs(v) < 1 else f"{v:.{digits}f}"


def _with_ci(row: dict[str, Any], key: str) -> str:
    est = _num(row.get(key))
    lo, hi = _num(row.get(f"{key}_ci_low")), _num(row.get(f"{key}_ci_high"))
    return f"{est} ({lo}-{hi})" if est and lo and hi else est


def _fig(fig: go.Figure, div_id: str) -> str:
    fig.update_layout(template="plotly_white", margin={"l": 60, "r": 20, "t": 70, "b": 50},
                      font={"family": "Helvetica, Arial, sans-serif", "size": 12})
    return pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


def selection_html(model: dict[str, Any], selection: pd.DataFrame | None, top: int = 30) -> str:
    """Lambda over CV repeats and the selection frequency of the most often selected genes."""
    name = str(model.get("name", ""))
    lams = [float(v) for v in model.get("lambda_min_repeats", [])]
    sizes = [int(v) for v in model.get("nonzero_repeats", [])]
    parts = [f"<h4>{_esc(name)}: cross-validation over {len(lams)} repeats</h4>"]
    if lams:
        parts.append(
            f"<p class='small'>lambda.min of the single repeats {_num(min(lams), 4)}-"
            f"{_num(max(lams), 4)} ({min(sizes)}-{max(sizes)} genes at each repeat's "
            f"{_esc(model.get('selected', ''))}); chosen on the mean curve: "
            f"{_esc(model.get('selected', ''))} = {_num(model.get('lambda'), 4)} "
            f"({int(model.get('n_selected', 0))} genes). Selection frequency: share of repeats "
            "whose own penalty gives the gene a non-zero coefficient "
            f"(results/models/{_esc(name)}/selection.tsv).</p>")
    if selection is None or selection.empty:
        return "".join(parts)
    rows = selection.sort_values("selection_frequency", ascending=False, kind="stable").head(top)
    body = "".join(
        f"<tr><td>{_esc(r.gene)}</td><td class='num'>{100 * float(r.selection_frequency):.0f}%"
        f"</td><td class='num'>{_num(r.coefficient, 4) if r.in_model else ''}</td></tr>"
        for r in rows.itertuples())
    more = (f"<p class='small'>{len(selection) - top} more genes selected at least once: see "
            "selection.tsv.</p>" if len(selection) > top else "")
    parts.append("<table><tr><th>gene</th><th>selected in repeats</th>"
                 "<th>frozen coefficient (per SD)</th></tr>" + body + "</table>" + more)
    return "".join(parts)


def calibration_curve_figure(curves: pd.DataFrame, sig: str, div_id: str) -> str | None:
    """Smoothed observed vs predicted 3-year event probability, one line per cohort."""
    d = curves[curves["signature"] == sig] if not curves.empty else curves
    if d.empty:
        return None
    fig = go.Figure()
    for (cohort, role), g in d.groupby(["cohort", "role"], sort=True):
        label = f"{cohort} (training: optimistic)" if role == "training" else cohort
        fig.add_trace(go.Scatter(x=g["predicted"], y=g["observed"], mode="lines",
                                 name=_esc(label),
                                 line={"dash": "dot" if role == "training" else "solid"}))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", showlegend=False,
                             line={"dash": "dash", "color": "#999"}))
    fig.update_layout(title=_esc(f"{sig}: smoothed calibration at 3 years")
                      + "<br><sup>Cox model on a spline of cloglog(predicted risk) "
                        "(Austin et al. 2020)</sup>",
                      height=430, width=560, xaxis_title="predicted 3-year event probability",
                      yaxis_title="observed 3-year event probability",
                      xaxis_range=[0, 1], yaxis_range=[0, 1])
    return _fig(fig, div_id)


def calibration_html(stats: pd.DataFrame, curves: pd.DataFrame, models: list[dict[str, Any]]
                     ) -> str:
    """Calibration table (every scored row of the trained models) and curves."""
    names = [str(m.get("name")) for m in models]
    if not names or stats.empty or "calib_slope" not in stats:
        return ""
    rows = stats[stats["set"].isin(names) & stats["calib_slope"].notna()]
    if rows.empty:
        return ""
    head = "".join(f"<th>{_esc(h)}</th>" for _, h, _ in CALIBRATION_COLUMNS)
    body = []
    for r in rows.to_dict("records"):
        role = str(r.get("role", ""))
        body.append(
            f"<tr><td>{_esc(r['set'])}</td><td>{_esc(r['cohort'])}"
            f"{' (training: optimistic)' if role == 'training' else ''}</td>"
            + "".join(f"<td class='num'>{_with_ci(r, k) if ci else _num(r.get(k))}</td>"
                      for k, _, ci in CALIBRATION_COLUMNS) + "</tr>")
    figs = [calibration_curve_figure(curves, n, f"risk-calcurve-{k}")
            for k, n in enumerate(names)]
    return ("<h4>Calibration of the trained models</h4>"
            "<p class='small'>Calibration slope: coefficient of the locked linear predictor in a "
            "Cox model fitted in the cohort (1 = ideal; below 1 predictions too extreme, above 1 "
            "too compressed). Calibration-in-the-large at 3 years: Kaplan-Meier observed vs "
            "mean predicted survival, and O/E = observed / expected 3-year event probability "
            "(1 = ideal; CI from the events by 3 years). With validation_scaling within_cohort "
            "the validation risk has mean 0 by construction, so calibration-in-the-large "
            "mostly reflects the baseline hazard (docs/risk-models.md). ICI: mean |observed - "
            "predicted| 3-year event probability over patients on the smoothed curve.</p>"
            f"<div class='scroll'><table><tr><th>model</th><th>cohort</th>{head}</tr>"
            + "".join(body) + "</table></div>"
            + "".join(f"<div>{f}</div>" for f in figs if f))


def models_html(view: ModelsView | None, models: list[dict[str, Any]],
                stats: pd.DataFrame) -> str:
    """Both fragments for every trained model ('' when there is none)."""
    if view is None or not models:
        return ""
    parts = [selection_html(m, view.selection.get(str(m.get("name")))) for m in models]
    parts.append(calibration_html(stats, view.curves, models))
    return "<div class='risk-models'>" + "".join(parts) + "</div>"
