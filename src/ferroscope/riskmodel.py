"""Penalised Cox risk models: train in one cohort, freeze, validate locked in the others.

Training (:func:`train_coxnet`)
    Genes of the declared universe are standardised in the training cohort (mean 0, population
    SD, i.e. divisor n as glmnet's ``standardize = TRUE``). scikit-survival's
    ``CoxnetSurvivalAnalysis`` fits the elastic-net Cox path (Breslow ties, objective
    ``-l(beta)/n + lambda * (a ||beta||_1 + (1 - a)/2 ||beta||_2^2)``, Simon et al. 2011, J Stat
    Softw 39:5; the same as glmnet's ``family = "cox"``). The penalty is chosen by k-fold
    cross-validation of the partial likelihood as ``cv.glmnet(type.measure = "deviance",
    grouped = TRUE)`` does (Verweij & van Houwelingen 1993, Stat Med 12:2305): for fold k fitted
    without fold k, ``CVD_k = D(beta_-k; all) - D(beta_-k; all but k)`` with ``D`` the Breslow
    partial-likelihood deviance; ``cvm = sum_k CVD_k / sum_k d_k`` (d_k: events in fold k),
    ``cvsd`` the event-weighted SD of ``CVD_k / d_k`` over folds / sqrt(k - 1); each fold is
    standardised on its own training part, as glmnet does. ``lambda.min``
    minimises cvm; ``lambda.1se`` is the largest lambda with cvm within one cvsd of the minimum.
    Folds come from a fixed seed. The frozen model (coefficients per training SD, training
    cut-point = median training risk, Breslow baseline survival) is written as a signature file
    with ``scale: zscore``, so validation applies it exactly as a published signature.

Validation (:func:`validate_risk`)
    The frozen coefficients are applied unchanged to genes standardised *within* the validation
    cohort (the declared convention: cross-platform scales differ; the training cut-point then
    refers to the same standardised scale). Reported: HR per SD of the risk score (via
    :func:`ferroscope.survival.cox_per_sd`), Harrell's C-index of the score in its locked
    direction (higher risk = shorter survival; ties in risk 1/2) with percentile-bootstrap CI, HR
    high vs low at the training cut-point, cumulative/dynamic time-dependent AUC at 1, 3, 5 years
    (Uno IPCW, scikit-survival; bootstrap CI), and calibration at 3 years: mean predicted
    ``S0(36)^exp(lp)`` vs Kaplan-Meier observed survival in each risk group.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.utils import concordance_index

from .errors import FerroscopeError
from .survival import SurvivalResult, cox_per_sd, fit_cox

CALIBRATION_MONTHS = 36.0
BASELINE_MONTHS = (12.0, 36.0, 60.0)


def standardise(x: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Columns to mean 0 and population SD 1 (divisor n, glmnet's convention)."""
    mean = x.mean(axis=0)
    sd = x.std(axis=0, ddof=0)
    return (x - mean) / sd, mean, sd


def breslow_loglik(beta: np.ndarray, x: np.ndarray, time: np.ndarray, event: np.ndarray
                   ) -> float:
    """Cox partial log-likelihood with Breslow ties.

    ``l = sum_{events i} [eta_i - log sum_{j: t_j >= t_i} exp(eta_j)]``.
    """
    eta = x @ beta
    order = np.argsort(-time, kind="stable")
    t, e, eta_s = time[order], event[order], eta[order]
    shift = eta_s.max() if len(eta_s) else 0.0
    cum = np.cumsum(np.exp(eta_s - shift))
    # risk set of time t: everyone with time >= t -> last index of the tie block
    last = np.searchsorted(-t, -t, side="right") - 1
    log_risk = np.log(cum[last]) + shift
    return float(np.sum(e * (eta_s - log_risk)))


def saturated_loglik(time: np.ndarray, event: np.ndarray) -> float:
    """Breslow log-likelihood of the saturated model: ``-sum_k d_k log d_k`` over event times."""
    _, d = np.unique(time[event.astype(bool)], return_counts=True)
    return float(-np.sum(d * np.log(d)))


def deviance(beta: np.ndarray, x: np.ndarray, time: np.ndarray, event: np.ndarray) -> float:
    """Partial-likelihood deviance ``2 (l_sat - l(beta))`` (glmnet ``coxnet.deviance``)."""
    return 2.0 * (saturated_loglik(time, event) - breslow_loglik(beta, x, time, event))


def _coxnet(l1_ratio: float, alphas: np.ndarray | None = None, n_alphas: int = 100,
            alpha_min_ratio: float | str = "auto", tol: float = 1e-14,
            max_iter: int = 1_000_000) -> Any:
    from sksurv.linear_model import CoxnetSurvivalAnalysis

    return CoxnetSurvivalAnalysis(l1_ratio=l1_ratio, alphas=alphas, n_alphas=n_alphas,
                                  alpha_min_ratio=alpha_min_ratio, normalize=False, tol=tol,
                                  max_iter=max_iter, fit_baseline_model=False)


def _surv(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    from sksurv.util import Surv

    return Surv.from_arrays(event.astype(bool), time)


def fit_path(x: np.ndarray, time: np.ndarray, event: np.ndarray, *, l1_ratio: float = 1.0,
             alphas: np.ndarray | None = None, n_alphas: int = 100,
             alpha_min_ratio: float | str = "auto", tol: float = 1e-14
             ) -> tuple[np.ndarray, np.ndarray]:
    """Elastic-net Cox path (scikit-survival): (alphas, coefficients genes x alphas)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = _coxnet(l1_ratio, alphas, n_alphas, alpha_min_ratio, tol).fit(x, _surv(time, event))
    return np.asarray(m.alphas_), np.asarray(m.coef_)


@dataclass
class CVResult:
    alphas: np.ndarray
    cvm: np.ndarray
    cvsd: np.ndarray
    nonzero: np.ndarray
    lambda_min: float
    lambda_1se: float
    folds: np.ndarray

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"lambda": self.alphas, "cvm": self.cvm, "cvsd": self.cvsd,
                             "cvup": self.cvm + self.cvsd, "cvlo": self.cvm - self.cvsd,
                             "nonzero": self.nonzero})


def fold_ids(n: int, n_folds: int, seed: int) -> np.ndarray:
    """Balanced fold labels 1..k in random order (fixed seed)."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(n) % n_folds) + 1


def cv_coxnet(x: np.ndarray, time: np.ndarray, event: np.ndarray, *, l1_ratio: float = 1.0,
              n_folds: int = 10, seed: int = 0, n_alphas: int = 100,
              alpha_min_ratio: float | str = "auto", folds: np.ndarray | None = None
              ) -> tuple[CVResult, np.ndarray]:
    """k-fold CV of the grouped partial-likelihood deviance along the full-data lambda path.

    Returns the CV result and the full-data coefficients (genes x lambdas).
    """
    alphas, coef = fit_path(x, time, event, l1_ratio=l1_ratio, n_alphas=n_alphas,
                            alpha_min_ratio=alpha_min_ratio)
    folds = fold_ids(len(time), n_folds, seed) if folds is None else np.asarray(folds)
    labels = np.unique(folds)
    raw = np.full((len(labels), len(alphas)), np.nan)
    weights = np.zeros(len(labels))
    for k, lab in enumerate(labels):
        keep = folds != lab
        weights[k] = event[~keep].sum()
        # as cv.glmnet: each fold is standardised on its own training part, and its
        # coefficients are mapped back to the scale of x
        sd_k = x[keep].std(axis=0)
        xk = (x[keep] - x[keep].mean(axis=0)) / sd_k
        ck = np.empty((x.shape[1], 0))
        while ck.shape[1] < len(alphas):
            # scikit-survival stops a path early once the deviance ratio saturates; glmnet
            # fits every lambda it is given: fit the rest of the path as glmnet does
            _, part = fit_path(xk, time[keep], event[keep], l1_ratio=l1_ratio,
                               alphas=alphas[ck.shape[1]:])
            ck = np.hstack([ck, part])
        ck = ck / sd_k[:, None]
        for j in range(len(alphas)):
            b = ck[:, j]
            raw[k, j] = (deviance(b, x, time, event)
                         - deviance(b, x[keep], time[keep], event[keep]))
    ok = weights > 0
    raw, weights = raw[ok] / weights[ok, None], weights[ok]
    cvm = np.average(raw, axis=0, weights=weights)
    cvsd = np.sqrt(np.average((raw - cvm) ** 2, axis=0, weights=weights) / (len(weights) - 1))
    best = int(np.argmin(cvm))
    within = np.flatnonzero(cvm <= cvm[best] + cvsd[best])
    lam_1se = float(alphas[within].max())
    res = CVResult(alphas, cvm, cvsd, (coef != 0).sum(axis=0), float(alphas[best]), lam_1se,
                   folds)
    return res, coef


@dataclass
class TrainedModel:
    """A frozen penalised Cox model."""

    name: str
    cohort: str
    coefficients: pd.Series              # per training SD, non-zero only
    train_mean: pd.Series
    train_sd: pd.Series
    cutpoint: float
    selected: str
    lambda_min: float
    lambda_1se: float
    cv: CVResult
    baseline_survival: dict[float, float]
    n: int
    events: int
    n_universe: int
    settings: dict[str, Any] = field(default_factory=dict)
    risk: pd.Series = field(default_factory=pd.Series)

    def signature_text(self) -> str:
        """The frozen model as a signature file (commented YAML header + gene/coefficient)."""
        import yaml

        meta = {
            "name": self.name,
            "citation": f"trained by ferroscope in cohort {self.cohort}",
            "endpoint": self.settings.get("endpoint", "os"),
            "scale": "zscore",
            "scale_note": "genes standardised within each cohort (mean 0, population SD)",
            "cutoff": float(self.cutpoint),
            "cutoff_note": f"{self.settings.get('cutpoint_rule', 'median')} risk in the training "
                           f"cohort {self.cohort}",
            "coefficients_source": f"LASSO/elastic-net Cox (l1_ratio "
                                   f"{self.settings.get('l1_ratio', 1.0)}) at {self.selected} "
                                   f"= {self.selected_lambda:.6g}",
            "checked": "frozen at training; applied unchanged in validation cohorts",
            "training_cohort": self.cohort,
            "baseline_survival": {float(k): float(v) for k, v in self.baseline_survival.items()},
        }
        head = "".join(f"# {ln}\n" for ln in yaml.safe_dump(meta, sort_keys=False).splitlines())
        rows = "".join(f"{g}\t{c:.17g}\n" for g, c in self.coefficients.items())
        return head + "gene\tcoefficient\n" + rows

    def coefficient_table(self) -> pd.DataFrame:
        """Frozen coefficients per training SD and per log2 unit, with training mean and SD."""
        return pd.DataFrame({"gene": self.coefficients.index,
                             "coefficient": self.coefficients.to_numpy(),
                             "coefficient_per_unit": (self.coefficients
                                                      / self.train_sd).to_numpy(),
                             "train_mean": self.train_mean.to_numpy(),
                             "train_sd": self.train_sd.to_numpy()})

    def summary(self) -> dict[str, Any]:
        """What model.json records: penalties, cut-point, baseline, sizes, settings."""
        return {"name": self.name, "cohort": self.cohort, "selected": self.selected,
                "lambda_min": self.lambda_min, "lambda_1se": self.lambda_1se,
                "lambda": self.selected_lambda, "n_selected": len(self.coefficients),
                "nonzero_at_lambda_min": int(self.cv.nonzero[self.cv.alphas
                                                             == self.lambda_min][0]),
                "nonzero_at_lambda_1se": int(self.cv.nonzero[self.cv.alphas
                                                             == self.lambda_1se][0]),
                "cutpoint": self.cutpoint, "n": self.n, "events": self.events,
                "n_universe": self.n_universe,
                "baseline_survival": {str(k): v for k, v in self.baseline_survival.items()},
                "standardisation": "genes standardised within each cohort: mean 0, population "
                                   "SD (divisor n); coefficients are per training SD",
                "ties": "Breslow", **self.settings}

    @property
    def selected_lambda(self) -> float:
        return self.lambda_min if self.selected == "lambda_min" else self.lambda_1se


def train_coxnet(expr: pd.DataFrame, time: pd.Series, event: pd.Series, *, name: str,
                 cohort: str, universe: list[str], l1_ratio: float = 1.0, n_folds: int = 10,
                 seed: int = 0, select: str = "lambda_min", n_alphas: int = 100,
                 alpha_min_ratio: float | str = "auto", min_events: int = 10,
                 source: str = "config", endpoint: str = "os") -> TrainedModel:
    """Train a penalised Cox model on ``expr`` (genes x samples) restricted to ``universe``."""
    from sksurv.linear_model.coxph import BreslowEstimator

    clin = pd.DataFrame({"time": time, "event": event}).dropna()
    samples = [s for s in expr.columns if s in clin.index]
    genes = [g for g in dict.fromkeys(universe) if g in expr.index]
    x = expr.loc[genes, samples].T.astype(float)
    x = x.loc[:, x.std(axis=0, ddof=0) > 0]
    clin = clin.loc[samples]
    n_events = int(clin["event"].sum())
    if n_events < min_events or x.shape[1] < 2:
        raise FerroscopeError(
            f"model {name}: {n_events} events and {x.shape[1]} variable universe genes in "
            f"{cohort}: too few to train.", file=source, field=f"models.{name}.cohort",
            fix=f"train in a cohort with at least {min_events} events and two or more genes.")
    z, mean, sd = standardise(x)
    t = clin["time"].to_numpy(float)
    e = clin["event"].to_numpy(float)
    cv, coef = cv_coxnet(z.to_numpy(), t, e, l1_ratio=l1_ratio, n_folds=n_folds, seed=seed,
                         n_alphas=n_alphas, alpha_min_ratio=alpha_min_ratio)
    lam = cv.lambda_min if select == "lambda_min" else cv.lambda_1se
    beta = coef[:, int(np.flatnonzero(cv.alphas == lam)[0])]
    coefs = pd.Series(beta, index=z.columns, name="coefficient")
    coefs = coefs[coefs != 0].sort_values(key=np.abs, ascending=False)
    if coefs.empty:
        raise FerroscopeError(
            f"model {name}: no gene has a non-zero coefficient at {select} = {lam:.4g} in "
            f"{cohort} (no prognostic signal the cross-validation trusts).", file=source,
            field=f"models.{name}.select",
            fix="use select: lambda_min, a larger universe, or another training cohort.")
    lp = z[coefs.index].to_numpy() @ coefs.to_numpy()
    risk = pd.Series(lp, index=z.index, name=name)
    baseline = BreslowEstimator().fit(lp, e.astype(bool), t)
    s0 = {h: float(baseline.baseline_survival_(min(h, float(t.max())))) for h in BASELINE_MONTHS}
    return TrainedModel(
        name=name, cohort=cohort, coefficients=coefs, train_mean=mean[coefs.index],
        train_sd=sd[coefs.index], cutpoint=float(np.median(lp)), selected=select,
        lambda_min=cv.lambda_min, lambda_1se=cv.lambda_1se, cv=cv, baseline_survival=s0,
        n=len(t), events=n_events, n_universe=z.shape[1], risk=risk,
        settings={"l1_ratio": l1_ratio, "n_folds": n_folds, "seed": seed,
                  "cutpoint_rule": "median",
                  "endpoint": endpoint})


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
    calibration: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items()
             if k not in ("survival", "calibration", "notes")}
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
    if baseline_s36 is not None and np.isfinite(baseline_s36):
        val.calibration = calibration(df["time"], df["event"], df["risk"], high, baseline_s36)
    return val


def td_roc(time: pd.Series, event: pd.Series, risk: pd.Series, horizon: float) -> pd.DataFrame:
    """Cumulative/dynamic ROC points at ``horizon`` with IPCW (the curve whose area
    scikit-survival's ``cumulative_dynamic_auc`` returns): cases ``T <= h`` with an event weighted
    by 1/G(T), controls ``T > h``."""
    from sksurv.nonparametric import CensoringDistributionEstimator

    df = pd.DataFrame({"t": time, "e": event, "r": risk}).dropna()
    y = _surv(df["t"].to_numpy(float), df["e"].to_numpy(float))
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


def model_universe(sets: list[Any], universe: str | list[str], *, model: str,
                   gmt: str) -> list[str]:
    """Candidate genes: the union of every curated set, or of the named GMT sets."""
    by_name = {s.name: s for s in sets}
    if universe == "curated":
        chosen = list(by_name.values())
    else:
        unknown = [u for u in universe if u not in by_name]
        if unknown:
            raise FerroscopeError(f"model {model}: set(s) {', '.join(unknown)} not in {gmt}.",
                                  file="config/config.yaml", field=f"models.{model}.universe",
                                  fix=f"use set names of {gmt} ({', '.join(by_name)}) or "
                                      "'curated'.")
        chosen = [by_name[u] for u in universe]
    return list(dict.fromkeys(g for s in chosen for g in s.genes))
