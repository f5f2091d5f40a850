"""Locked validation of a frozen risk score in a cohort: discrimination and calibration.

Validation (:func:`validate_risk`)
    The frozen coefficients are applied unchanged to genes standardised *within* the validation
    cohort (the default convention: cross-platform scales differ; the training cut-point then
    refers to the same standardised scale; the validation risk has mean 0, which fixes
    calibration-in-the-large by construction), or with the training means and SDs
    (``validation_scaling: training``, a true lock for same-platform cohorts); scoring is
    :func:`ferroscope.signatures.score_signature`, training :mod:`ferroscope.riskmodel`.
    Reported: HR per SD of the risk score (via :func:`ferroscope.survival.cox_per_sd`),
    Harrell's C-index of the score in its locked direction (higher risk = shorter survival;
    ties in risk 1/2) with percentile-bootstrap CI, HR high vs low at the training cut-point,
    cumulative/dynamic time-dependent AUC at 1, 3, 5 years (Uno IPCW, scikit-survival;
    bootstrap CI; ROC points :func:`td_roc`), and calibration (Van Calster et al. 2016, J Clin
    Epidemiol 74:167; McLernon et al. 2023, Ann Intern Med 176:105): the calibration slope
    (``coxph(Surv ~ lp)`` in the cohort, Wald CI), calibration-in-the-large at 3 years (KM
    observed vs mean predicted ``S0(36)^exp(lp)``, O/E of the event probability with CI), the
    smoothed calibration curve and ICI (Austin et al. 2020, Stat Med 39:2714) when the cohort
    has enough events, and predicted vs observed survival in each risk group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.utils import concordance_index
from scipy.stats import norm

from .survival import SurvivalResult, cox_per_sd, fit_cox

CALIBRATION_MONTHS = 36.0
#: the smoothed calibration curve needs this many events (by the horizon) in the cohort
CURVE_MIN_EVENTS = 50


@dataclass
class Validation:
    """Validation statistics of one risk score in one cohort."""

    survival: SurvivalResult
    cutpoint: float = np.nan
    n_high: int = 0
    n_low: int = 0
    hr_high_low: float = np.nan
    hr_high_low_ci_low: float = np.nan
    hr_high_low_ci_high: float = np.nan
    p_high_low: float = np.nan
    c_index_ci_low: float = np.nan
    c_index_ci_high: float = np.nan
    calib_slope: float = np.nan
    calib_slope_se: float = np.nan
    calib_slope_ci_low: float = np.nan
    calib_slope_ci_high: float = np.nan
    calib_observed_36: float = np.nan
    calib_observed_36_ci_low: float = np.nan
    calib_observed_36_ci_high: float = np.nan
    calib_predicted_36: float = np.nan
    calib_events_36: float = np.nan
    calib_oe_36: float = np.nan
    calib_oe_36_ci_low: float = np.nan
    calib_oe_36_ci_high: float = np.nan
    calib_ici_36: float = np.nan
    calibration: pd.DataFrame = field(default_factory=pd.DataFrame)
    curve: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items()
             if k not in ("survival", "calibration", "curve", "notes")}
        for row in self.calibration.itertuples():
            d[f"calib36_pred_{row.group}"] = row.predicted
            d[f"calib36_obs_{row.group}"] = row.observed
        return d


def harrell_c(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C of a risk score (higher risk, shorter survival); ties in risk count 1/2."""
    return float(concordance_index(time, -risk, event))


def calibration(time: pd.Series, event: pd.Series, risk: pd.Series, high: pd.Series,
                s0: float, horizon: float = CALIBRATION_MONTHS) -> pd.DataFrame:
    """Predicted ``mean S0(h)^exp(lp)`` vs KM observed survival at ``h`` per risk group."""
    rows = []
    for label, flag in (("high", high), ("low", ~high)):
        if flag.sum() == 0:
            continue
        kmf = KaplanMeierFitter().fit(time[flag], event[flag])
        ci = kmf.confidence_interval_survival_function_
        at = ci.index[ci.index <= horizon]
        lo, hi = (ci.loc[at[-1]].to_numpy() if len(at) else (1.0, 1.0))
        rows.append({"group": label, "n": int(flag.sum()),
                     "predicted": float(np.mean(s0 ** np.exp(risk[flag]))),
                     "observed": float(kmf.predict(horizon)),
                     "observed_ci_low": float(lo), "observed_ci_high": float(hi)})
    return pd.DataFrame(rows)


def calibration_slope(time: pd.Series, event: pd.Series, risk: pd.Series) -> dict[str, float]:
    """Calibration slope: the coefficient of the locked linear predictor in a Cox model fitted
    in the validation cohort, ``coxph(Surv(time, event) ~ lp)`` (Efron ties), with its Wald 95%
    CI (Van Houwelingen 2000, Stat Med 19:3401; Van Calster et al. 2016, J Clin Epidemiol
    74:167). 1 = well calibrated; < 1 predictions too extreme (overfitting); > 1 too
    compressed (the risk under-separates patients)."""
    fit = fit_cox(pd.DataFrame({"time": time, "event": event, "lp": risk}).astype(float))
    row = fit.summary.loc["lp"]
    b, se = float(row["coef"]), float(row["se(coef)"])
    z = float(norm.ppf(0.975))
    return {"calib_slope": b, "calib_slope_se": se, "calib_slope_ci_low": b - z * se,
            "calib_slope_ci_high": b + z * se}


def calibration_in_the_large(time: pd.Series, event: pd.Series, risk: pd.Series, s0: float,
                             horizon: float = CALIBRATION_MONTHS
                             ) -> tuple[dict[str, float], str]:
    """Observed (Kaplan-Meier) vs mean predicted survival at ``horizon`` and the O/E ratio of
    the event probability, ``O/E = (1 - KM(h)) / mean(1 - S0(h)^exp(lp))`` with the 95% CI
    ``O/E exp(+-1.96 sqrt(1/O))``, O the events by ``h`` (McLernon et al. 2023, Ann Intern
    Med 176:105, the KM-based form). Empty with a note when the cohort's follow-up ends
    before ``h`` (the KM curve would silently repeat its last value)."""
    if float(time.max()) < horizon:
        return {}, (f"calibration at {horizon:g} months not estimated: follow-up ends at "
                    f"{float(time.max()):.1f} months")
    kmf = KaplanMeierFitter().fit(time, event)
    ci = kmf.confidence_interval_survival_function_
    lo, hi = ci.loc[ci.index[ci.index <= horizon][-1]].to_numpy()
    observed = float(kmf.predict(horizon))
    predicted = float(np.mean(s0 ** np.exp(risk)))
    events = int(((time <= horizon) & (event == 1)).sum())
    out = {"calib_observed_36": observed, "calib_observed_36_ci_low": float(lo),
           "calib_observed_36_ci_high": float(hi), "calib_predicted_36": predicted,
           "calib_events_36": events}
    if events == 0 or predicted >= 1:
        return out, f"no event by {horizon:g} months: O/E not estimated"
    oe = (1 - observed) / (1 - predicted)
    half = float(norm.ppf(0.975)) * np.sqrt(1 / events)
    out.update(calib_oe_36=oe, calib_oe_36_ci_low=oe * np.exp(-half),
               calib_oe_36_ci_high=oe * np.exp(half))
    return out, ""


def rcs_knots(x: np.ndarray, nk: int = 3) -> np.ndarray:
    """Knots of R rms ``rcs(x, 3)``: quantiles 0.10, 0.50, 0.90 (type 7); with fewer than 100
    values the outer knots are the 5th smallest and 5th largest (``rcspline.eval``)."""
    if nk != 3:
        raise ValueError("only 3 knots are implemented")
    knots = np.quantile(x, [0.10, 0.50, 0.90])
    if len(x) < 100:
        xs = np.sort(x)
        knots[0], knots[-1] = xs[4], xs[-5]
    return knots


def rcs_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Harrell's restricted cubic spline basis (rms ``rcspline.eval``, ``norm = 2``): x and
    one non-linear term per inner knot."""
    k = knots
    denom = (k[-1] - k[0]) ** 2
    cols = [x]
    for j in range(len(k) - 2):
        term = (np.maximum(x - k[j], 0) ** 3
                - np.maximum(x - k[-2], 0) ** 3 * (k[-1] - k[j]) / (k[-1] - k[-2])
                + np.maximum(x - k[-1], 0) ** 3 * (k[-2] - k[j]) / (k[-1] - k[-2]))
        cols.append(term / denom)
    return np.column_stack(cols)


def calibration_curve(time: pd.Series, event: pd.Series, risk: pd.Series, s0: float,
                      horizon: float = CALIBRATION_MONTHS, n_grid: int = 50
                      ) -> tuple[pd.DataFrame, float]:
    """Smoothed calibration curve at ``horizon`` (Austin, Harrell & van Klaveren 2020, Stat Med
    39:2714): a Cox model of the outcome on a restricted cubic spline (3 knots) of the
    complementary log-log of the predicted risk ``F = 1 - S0(h)^exp(lp)``; its predicted
    ``1 - S(h)`` is the observed risk of each patient (Breslow baseline, as R
    ``survfit(coxph(...), ctype = 1)``). Returns the curve on a grid of predicted risk
    (1st-99th percentile) and the integrated calibration index ICI = mean |observed -
    predicted| over patients."""
    pred = 1 - s0 ** np.exp(risk.to_numpy(float))
    cll = np.log(-np.log(1 - pred))
    knots = rcs_knots(cll)
    basis = rcs_basis(cll, knots)
    cols = [f"s{j}" for j in range(basis.shape[1])]
    df = pd.DataFrame(basis, columns=cols).assign(time=time.to_numpy(float),
                                                  event=event.to_numpy(float))
    fit = fit_cox(df)

    def observed(b: np.ndarray) -> np.ndarray:
        sf = fit.predict_survival_function(pd.DataFrame(b, columns=cols), times=[horizon])
        return 1 - sf.to_numpy()[0]

    low, high = (float(v) for v in np.quantile(pred, [0.01, 0.99]))
    grid = np.linspace(low, high, n_grid)
    grid_cll = np.log(-np.log(1 - grid))
    curve = pd.DataFrame({"predicted": grid, "observed": observed(rcs_basis(grid_cll, knots))})
    ici = float(np.mean(np.abs(observed(basis) - pred)))
    return curve, ici


def validate_risk(time: pd.Series, event: pd.Series, risk: pd.Series, *, cutpoint: float,
                  baseline_s36: float | None = None, min_events: int = 10, n_boot: int = 200,
                  seed: int = 0) -> Validation:
    """Locked validation statistics of a risk score (see the module docstring)."""
    df = pd.DataFrame({"time": time, "event": event, "risk": risk}).dropna().astype(float)
    surv = cox_per_sd(df["time"], df["event"], df["risk"], min_events=min_events,
                      n_boot=n_boot, seed=seed)
    val = Validation(surv, cutpoint=float(cutpoint))
    if surv.status != "ok":
        return val
    t, e, r = (df[c].to_numpy() for c in ("time", "event", "risk"))
    # the locked score's own direction (higher risk, shorter survival); the Cox fit's C-index
    # would silently flip a reversed score to > 0.5
    surv.c_index = harrell_c(t, e, r)
    high = df["risk"] > cutpoint
    val.n_high, val.n_low = int(high.sum()), int((~high).sum())
    if min(val.n_high, val.n_low) >= 2 and df.loc[high, "event"].sum() > 0 \
            and df.loc[~high, "event"].sum() > 0:
        fit = fit_cox(pd.DataFrame({"time": df["time"], "event": df["event"],
                                 "high": high.astype(float)}))
        row = fit.summary.loc["high"]
        val.hr_high_low = float(row["exp(coef)"])
        val.hr_high_low_ci_low = float(row["exp(coef) lower 95%"])
        val.hr_high_low_ci_high = float(row["exp(coef) upper 95%"])
        val.p_high_low = float(row["p"])
    else:
        val.notes.append(f"HR high vs low not estimable at cut-point {cutpoint:.3g} "
                         f"({val.n_high} high, {val.n_low} low)")
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(df), len(df))
        if e[idx].sum() > 0:
            boots.append(harrell_c(t[idx], e[idx], r[idx]))
    if len(boots) >= 20:
        val.c_index_ci_low, val.c_index_ci_high = (float(v) for v in
                                                   np.percentile(boots, [2.5, 97.5]))
    for key, value in calibration_slope(df["time"], df["event"], df["risk"]).items():
        setattr(val, key, value)
    if baseline_s36 is None or not np.isfinite(baseline_s36):
        return val
    large, note = calibration_in_the_large(df["time"], df["event"], df["risk"], baseline_s36)
    for key, value in large.items():
        setattr(val, key, value)
    if note:
        val.notes.append(note)
    if not large:
        return val
    val.calibration = calibration(df["time"], df["event"], df["risk"], high, baseline_s36)
    if int(e.sum()) >= CURVE_MIN_EVENTS:
        val.curve, val.calib_ici_36 = calibration_curve(df["time"], df["event"], df["risk"],
                                                        baseline_s36)
    else:
        val.notes.append(f"no smoothed calibration curve: {int(e.sum())} events "
                         f"(< {CURVE_MIN_EVENTS})")
    return val


def td_roc(time: pd.Series, event: pd.Series, risk: pd.Series, horizon: float) -> pd.DataFrame:
    """Cumulative/dynamic ROC points at ``horizon`` with IPCW (the curve whose area
    scikit-survival's ``cumulative_dynamic_auc`` returns): cases ``T <= h`` with an event weighted
    by 1/G(T), controls ``T > h``."""
    from sksurv.nonparametric import CensoringDistributionEstimator
    from sksurv.util import Surv

    df = pd.DataFrame({"t": time, "e": event, "r": risk}).dropna()
    y = Surv.from_arrays(df["e"].to_numpy(bool), df["t"].to_numpy(float))
    w = CensoringDistributionEstimator().fit(y).predict_ipcw(y)
    case = ((df["t"] <= horizon) & (df["e"] == 1)).to_numpy()
    control = (df["t"] > horizon).to_numpy()
    if case.sum() == 0 or control.sum() == 0:
        return pd.DataFrame(columns=["fpr", "tpr"])
    cuts = np.r_[np.inf, np.sort(df["r"].unique())[::-1]]
    r = df["r"].to_numpy()
    tpr = [(w[case] * (r[case] >= c)).sum() / w[case].sum() for c in cuts]
    fpr = [(r[control] >= c).mean() for c in cuts]
    return pd.DataFrame({"fpr": fpr, "tpr": tpr})

