"""The report's "Risk signatures" section: published coefficient signatures and frozen
penalised Cox models (time-dependent ROC, calibration, KM by risk group, forests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..riskvalidation import td_roc
from .data import COLORS
from .figures import forest_plot
from .markup import _esc, _fig_html


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
    # trained-model CV stability and calibration (ferroscope.report.models.ModelsView)
    models_view: Any = None


def _risk_label(cohort: str, role: str) -> str:
    return _esc(f"{cohort} (training: optimistic)" if role == "training" else cohort)


def risk_td_roc_figure(risk: RiskData, sig: str, stats: pd.DataFrame, div_id: str,
                       horizon: float = 36.0) -> str | None:
    """Cumulative/dynamic ROC at ``horizon`` months per cohort (IPCW), AUC in the legend."""
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
        # ferroscope.report.models; shown after the model paragraphs ---
        "models_html": _models_html(risk, sig_stats),
    }


def _models_html(risk: RiskData, sig_stats: pd.DataFrame) -> str:
    from .models import models_html

    return models_html(risk.models_view, risk.models, sig_stats)
