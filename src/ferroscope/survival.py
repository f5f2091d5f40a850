"""Survival analysis of a score: Cox HR per SD, Kaplan-Meier by median split, log-rank (lifelines).

``cox_per_sd`` standardises the score within the cohort (mean 0, SD 1), fits a univariate Cox
model (Efron ties, lifelines ``CoxPHFitter``) and reports the hazard ratio per SD with its 95%
Wald CI, the Wald and likelihood-ratio p-values, Harrell's C-index and the proportional-hazards
test on Schoenfeld residuals (rank time transform). ``km_median_split`` compares patients above
and below the median score with the log-rank test.

Degenerate inputs do not raise: the result carries ``status = "not tested"`` and a ``note``
saying why, so the report can show the reason in place.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test, proportional_hazard_test


@dataclass
class SurvivalResult:
    n: int = 0
    events: int = 0
    hr: float = np.nan
    ci_low: float = np.nan
    ci_high: float = np.nan
    log_hr: float = np.nan
    se_log_hr: float = np.nan
    p_wald: float = np.nan
    p_lr: float = np.nan
    c_index: float = np.nan
    ph_p: float = np.nan
    km_logrank_p: float = np.nan
    km_median_high: float = np.nan
    km_median_low: float = np.nan
    status: str = "ok"
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _clean(time: pd.Series, event: pd.Series, score: pd.Series) -> pd.DataFrame:
    df = pd.DataFrame({"time": time, "event": event, "score": score}).dropna()
    return df.astype(float)


def cox_per_sd(time: pd.Series, event: pd.Series, score: pd.Series, *,
               min_events: int = 10) -> SurvivalResult:
    """Univariate Cox model of survival on the standardised score."""
    df = _clean(time, event, score)
    res = SurvivalResult(n=len(df), events=int(df["event"].sum()) if len(df) else 0)
    sd = df["score"].std(ddof=1) if len(df) > 1 else 0.0
    if res.events < min_events:
        res.status, res.note = "not tested", f"{res.events} events (< min_events = {min_events})"
        return res
    if not np.isfinite(sd) or sd == 0:
        res.status, res.note = "not tested", "score is constant across patients"
        return res
    df["z"] = (df["score"] - df["score"].mean()) / sd
    cph = CoxPHFitter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cph.fit(df[["time", "event", "z"]], duration_col="time", event_col="event")
        ph = proportional_hazard_test(cph, df[["time", "event", "z"]], time_transform="rank")
    row = cph.summary.loc["z"]
    res.log_hr = float(row["coef"])
    res.se_log_hr = float(row["se(coef)"])
    res.hr = float(row["exp(coef)"])
    res.ci_low = float(row["exp(coef) lower 95%"])
    res.ci_high = float(row["exp(coef) upper 95%"])
    res.p_wald = float(row["p"])
    res.p_lr = float(cph.log_likelihood_ratio_test().p_value)
    res.c_index = float(cph.concordance_index_)
    res.ph_p = float(np.atleast_1d(ph.p_value)[0])
    if res.ph_p < 0.05:
        res.note = "proportional-hazards assumption questionable (Schoenfeld p < 0.05)"
    km_median_split(df, res)
    return res


def km_median_split(df: pd.DataFrame, res: SurvivalResult) -> None:
    """Log-rank test and median survival (months) above vs at-or-below the median score."""
    high = df["score"] > df["score"].median()
    if high.sum() < 2 or (~high).sum() < 2:
        return
    lr = logrank_test(df.loc[high, "time"], df.loc[~high, "time"],
                      df.loc[high, "event"], df.loc[~high, "event"])
    res.km_logrank_p = float(lr.p_value)
    for flag, attr in ((high, "km_median_high"), (~high, "km_median_low")):
        kmf = KaplanMeierFitter().fit(df.loc[flag, "time"], df.loc[flag, "event"])
        setattr(res, attr, float(kmf.median_survival_time_))


def km_curves(time: pd.Series, event: pd.Series, score: pd.Series) -> pd.DataFrame:
    """Step-function KM estimates per median-split group, for plotting.

    Columns: group (high/low), time, survival, at_risk.
    """
    df = _clean(time, event, score)
    high = df["score"] > df["score"].median()
    parts = []
    for label, flag in (("high", high), ("low", ~high)):
        if flag.sum() == 0:
            continue
        kmf = KaplanMeierFitter().fit(df.loc[flag, "time"], df.loc[flag, "event"])
        tab = kmf.event_table
        parts.append(pd.DataFrame({
            "group": label, "time": kmf.survival_function_.index.to_numpy(),
            "survival": kmf.survival_function_.iloc[:, 0].to_numpy(),
            "at_risk": tab["at_risk"].reindex(kmf.survival_function_.index).to_numpy(),
        }))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["group", "time", "survival", "at_risk"])


def median_followup(time: pd.Series, event: pd.Series) -> float:
    """Median follow-up by the reverse Kaplan-Meier method (censoring as the event)."""
    df = pd.DataFrame({"t": time, "e": event}).dropna()
    if df.empty or (df["e"] == 1).all():
        return float("nan")
    kmf = KaplanMeierFitter().fit(df["t"], 1 - df["e"])
    return float(kmf.median_survival_time_)


def at_risk_table(time: pd.Series, event: pd.Series, score: pd.Series,
                  times: list[float]) -> pd.DataFrame:
    """Numbers at risk (time >= t) per median-split group at the given times."""
    df = _clean(time, event, score)
    high = df["score"] > df["score"].median()
    rows = {label: [int((df.loc[flag, "time"] >= t).sum()) for t in times]
            for label, flag in (("high", high), ("low", ~high))}
    return pd.DataFrame(rows, index=pd.Index(times, name="time")).T
