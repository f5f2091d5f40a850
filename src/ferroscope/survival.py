"""Survival analysis of a score: Cox HR per SD, Kaplan-Meier by median split, log-rank (lifelines).

``cox_per_sd`` standardises the score within the cohort (mean 0, SD 1), fits a univariate Cox
model (Efron ties, lifelines ``CoxPHFitter``, converged to 1e-10 so that HR and SE equal R's
``coxph(ties = "efron")``) and reports the hazard ratio per SD with its 95% Wald CI, the Wald and
likelihood-ratio p-values, Harrell's C-index and the proportional-hazards test on Schoenfeld
residuals (rank time transform). Where that test fails (p < 0.05) the HR is also given before
and after the median event time (time-split fit). Covariates, when given, add an adjusted HR
per SD from a multivariable model (complete cases; the number dropped is reported).

Kaplan-Meier comparisons: median split and tertiles (log-rank), and the optimised cut-point by
maximally selected log-rank statistics (``maxstat_logrank``) with the Lausen & Schumacher (1994)
p-value corrected for the search over cut-points, as R ``maxstat`` (``pmethod = "Lau94"``).
Time-dependent AUC at fixed horizons uses scikit-survival's ``cumulative_dynamic_auc`` with a
percentile bootstrap CI.

Degenerate inputs do not raise: the result carries ``status = "not tested"`` and a ``note``
saying why, so the report can show the reason in place.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test, proportional_hazard_test
from scipy.stats import norm

FIT_OPTIONS = {"precision": 1e-10, "max_steps": 200}
TD_AUC_MONTHS = (12.0, 36.0, 60.0)


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
    km_tertile_p: float = np.nan
    maxstat_cutpoint: float = np.nan
    maxstat_statistic: float = np.nan
    maxstat_p: float = np.nan
    hr_early: float = np.nan
    hr_late: float = np.nan
    split_months: float = np.nan
    hr_adj: float = np.nan
    ci_low_adj: float = np.nan
    ci_high_adj: float = np.nan
    p_adj: float = np.nan
    n_adj: int = 0
    covariates: str = ""
    td_auc_12: float = np.nan
    td_auc_12_ci_low: float = np.nan
    td_auc_12_ci_high: float = np.nan
    td_auc_36: float = np.nan
    td_auc_36_ci_low: float = np.nan
    td_auc_36_ci_high: float = np.nan
    td_auc_60: float = np.nan
    td_auc_60_ci_low: float = np.nan
    td_auc_60_ci_high: float = np.nan
    status: str = "ok"
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _clean(time: pd.Series, event: pd.Series, score: pd.Series) -> pd.DataFrame:
    df = pd.DataFrame({"time": time, "event": event, "score": score}).dropna()
    return df.astype(float)


def _fit(df: pd.DataFrame, **kwargs: object) -> CoxPHFitter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CoxPHFitter().fit(df, duration_col="time", event_col="event",
                                 fit_options=FIT_OPTIONS, **kwargs)


def cox_per_sd(time: pd.Series, event: pd.Series, score: pd.Series, *,
               min_events: int = 10, covariates: pd.DataFrame | None = None,
               td_auc: bool = True, n_boot: int = 200, seed: int = 0) -> SurvivalResult:
    """Univariate (and covariate-adjusted) Cox model of survival on the standardised score."""
    df = _clean(time, event, score)
    res = SurvivalResult(n=len(df), events=int(df["event"].sum()) if len(df) else 0)
    sd = df["score"].std(ddof=1) if len(df) > 1 else 0.0
    if res.events < min_events:
        res.status = "not tested"
        res.note = (f"{res.events} events (< min_events = {min_events})" if res.events else
                    "no events: every patient is censored")
        return res
    if not np.isfinite(sd) or sd == 0:
        res.status, res.note = "not tested", "score is constant across patients"
        return res
    df["z"] = (df["score"] - df["score"].mean()) / sd
    data = df[["time", "event", "z"]]
    cph = _fit(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph = proportional_hazard_test(cph, data, time_transform="rank")
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
    notes = []
    if res.ph_p < 0.05:
        time_split(data, res)
        notes.append("proportional hazards questionable (Schoenfeld p < 0.05): see HR before "
                     f"and after {res.split_months:.1f} months")
    notes.append(km_median_split(df, res))
    km_tertiles(df, res)
    ms = maxstat_logrank(df["time"], df["event"], df["score"])
    if ms is not None:
        res.maxstat_statistic, res.maxstat_cutpoint, res.maxstat_p = ms
    if covariates is not None and covariates.shape[1] > 0:
        notes += adjusted(df, covariates, res, min_events)
    if td_auc:
        time_dependent_auc(df, res, n_boot=n_boot, seed=seed)
    res.note = "; ".join(n for n in notes if n)
    return res


def time_split(data: pd.DataFrame, res: SurvivalResult) -> None:
    """HR per SD before and after the median event time (episode split)."""
    split = float(data.loc[data["event"] == 1, "time"].median())
    early = data.assign(event=np.where(data["time"] > split, 0, data["event"]),
                        time=np.minimum(data["time"], split))
    late = data[data["time"] > split].assign(entry=split)
    res.split_months = split
    for part, attr, kw in ((early, "hr_early", {}), (late, "hr_late", {"entry_col": "entry"})):
        if part["event"].sum() >= 5:
            res.__setattr__(attr, float(np.exp(_fit(part, **kw).params_["z"])))


def adjusted(df: pd.DataFrame, covariates: pd.DataFrame, res: SurvivalResult,
             min_events: int) -> list[str]:
    """Multivariable Cox: score (per SD) + covariates, complete cases."""
    cov = covariates.reindex(df.index)
    complete = cov.notna().all(axis=1) & (cov.astype(str) != "").all(axis=1)
    dropped = int((~complete).sum())
    sub = df.loc[complete, ["time", "event", "z"]]
    design = pd.get_dummies(cov.loc[complete], drop_first=True, dtype=float)
    design = design.loc[:, design.std() > 0]
    res.covariates = ", ".join(map(str, covariates.columns))
    if sub["event"].sum() < min_events or design.shape[1] == 0:
        return [f"adjusted model not fitted ({int(sub['event'].sum())} events in "
                f"{len(sub)} complete cases)"]
    fit = _fit(pd.concat([sub, design], axis=1))
    row = fit.summary.loc["z"]
    res.hr_adj = float(row["exp(coef)"])
    res.ci_low_adj = float(row["exp(coef) lower 95%"])
    res.ci_high_adj = float(row["exp(coef) upper 95%"])
    res.p_adj = float(row["p"])
    res.n_adj = len(sub)
    return [f"adjusted model: {dropped} patients with missing covariates dropped"] if dropped \
        else []


def time_dependent_auc(df: pd.DataFrame, res: SurvivalResult, *, n_boot: int = 200,
                       seed: int = 0) -> None:
    """Cumulative/dynamic AUC of the score at 1, 3 and 5 years, percentile bootstrap 95% CI.

    Apparent AUC (the score is not fitted, so there is nothing to overfit); censoring handled
    by inverse-probability weights (Uno et al. 2007) as in scikit-survival.
    """
    from sksurv.metrics import cumulative_dynamic_auc
    from sksurv.util import Surv

    def auc_at(d: pd.DataFrame, horizons: list[float]) -> np.ndarray:
        y = Surv.from_arrays(d["event"].astype(bool), d["time"])
        return cumulative_dynamic_auc(y, y, d["z"].to_numpy(), horizons)[0]

    t_max = df.loc[df["event"] == 1, "time"].max()
    horizons = [t for t in TD_AUC_MONTHS if df["time"].min() < t < t_max]
    if not horizons:
        return
    try:
        point = auc_at(df, horizons)
    except ValueError:
        return
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        sample = df.iloc[rng.integers(0, len(df), len(df))]
        try:
            boots.append(auc_at(sample, horizons))
        except ValueError:  # a resample without follow-up beyond a horizon
            continue
    lo, hi = (np.nanpercentile(boots, q, axis=0) if len(boots) >= 20
              else np.full(len(horizons), np.nan) for q in (2.5, 97.5))
    for k, t in enumerate(horizons):
        setattr(res, f"td_auc_{int(t)}", float(point[k]))
        setattr(res, f"td_auc_{int(t)}_ci_low", float(lo[k]))
        setattr(res, f"td_auc_{int(t)}_ci_high", float(hi[k]))


def maxstat_logrank(time: pd.Series, event: pd.Series, score: pd.Series, *,
                    minprop: float = 0.1, maxprop: float = 0.9
                    ) -> tuple[float, float, float] | None:
    """Maximally selected log-rank statistic, its cut-point and the Lau94 corrected p-value.

    Port of R maxstat 0.7-25 ``cmaxstat`` with log-rank scores from exactRankTests
    ``cscores.Surv`` (Lausen B, Schumacher M (1992) Biometrics 48:73-85; p-value bound of
    Lausen B, Sauerbrei W, Schumacher M (1994)). The cut-point c splits patients into
    score <= c and score > c; only cut-points leaving at least ``minprop`` and at most
    ``maxprop`` of the patients in the lower group are searched.
    """
    t = np.asarray(time, float)
    e = np.asarray(event, float)
    x = np.asarray(score, float)
    n = len(t)
    # log-rank scores: a_i = e_i - sum_{t_j <= t_i} e_j / (n - r_j + 1), r = max-tie rank
    order_t = np.argsort(t, kind="stable")
    max_rank = np.searchsorted(np.sort(t), t, side="right")
    fact = e / (n - max_rank + 1)
    cum = np.cumsum(fact[order_t])
    scores = e - cum[max_rank - 1]
    order_x = np.argsort(x, kind="stable")
    y = scores[order_x]
    xs = x[order_x]
    m = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])  # first index of each distinct value
    lo, hi = max(1, int(np.floor(n * minprop))), int(np.floor(n * maxprop))
    m = m[(m >= lo) & (m <= hi)]
    if len(m) == 0:
        return None
    ss = y.sum()
    expect = m / n * ss
    var = m * (n - m) / (n**2 * (n - 1)) * (n * np.sum(y**2) - ss**2)
    stats = np.abs((np.cumsum(y)[m - 1] - expect) / np.sqrt(var))
    best = int(np.argmax(stats))
    b = float(stats[best])
    return b, float(xs[m[best] - 1]), _p_lausen94(b, n, m)


def _p_lausen94(b: float, n: int, m: np.ndarray) -> float:
    """Lausen, Sauerbrei & Schumacher (1994) upper bound on P(max |Z| >= b) over cut-points."""
    d = 0.0
    if len(m) > 1:
        m1, m2 = m[:-1].astype(float), m[1:].astype(float)
        t = np.sqrt(1 - m1 * (n - m2) / ((n - m1) * m2))
        d = float(np.sum(1 / np.pi * np.exp(-b**2 / 2) * (t - (b**2 / 4 - 1) * t**3 / 6)))
    return float(min(1.0, 1 - (norm.cdf(b) - norm.cdf(-b)) + d))


def km_tertiles(df: pd.DataFrame, res: SurvivalResult) -> None:
    """Log-rank test across score tertiles."""
    groups = pd.qcut(df["score"].rank(method="first"), 3, labels=False)
    if groups.value_counts().min() < 10:
        return
    res.km_tertile_p = float(multivariate_logrank_test(df["time"], groups, df["event"]).p_value)


def km_median_split(df: pd.DataFrame, res: SurvivalResult, min_group: int = 10) -> str:
    """Log-rank test and median survival (months) above vs at-or-below the median score."""
    high = df["score"] > df["score"].median()
    if min(high.sum(), (~high).sum()) < min_group:
        return f"KM median split not tested: fewer than {min_group} patients per group"
    lr = logrank_test(df.loc[high, "time"], df.loc[~high, "time"],
                      df.loc[high, "event"], df.loc[~high, "event"])
    res.km_logrank_p = float(lr.p_value)
    for flag, attr in ((high, "km_median_high"), (~high, "km_median_low")):
        kmf = KaplanMeierFitter().fit(df.loc[flag, "time"], df.loc[flag, "event"])
        setattr(res, attr, float(kmf.median_survival_time_))
    return ""


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
