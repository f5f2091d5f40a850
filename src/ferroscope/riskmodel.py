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
    The CV is repeated ``cv_repeats`` times with fold assignments from one seeded generator;
    cvm and cvsd are averaged over repeats and the penalty is chosen on that mean curve (as
    averaging ``cv.glmnet`` fits over the same fold ids in R); each gene's selection frequency
    is the share of repeats whose own penalty selects it. The frozen model (coefficients per
    training SD, training cut-point by the ``cutpoint`` rule: median, a quantile or a fixed
    value; Breslow baseline survival, empty past the last training follow-up) is written as a
    signature file with ``scale: zscore`` (or ``training_zscore`` with the training means and
    SDs, ``validation_scaling: training``), so validation applies it exactly as a published
    signature. Every setting and default: :class:`ModelSettings`.

Validation (:func:`validate_risk`)
    The frozen coefficients are applied unchanged to genes standardised *within* the validation
    cohort (the default convention: cross-platform scales differ; the training cut-point then
    refers to the same standardised scale; the validation risk has mean 0, which fixes
    calibration-in-the-large by construction), or with the training means and SDs
    (``validation_scaling: training``, a true lock for same-platform cohorts). Reported: HR per
    SD of the risk score (via :func:`ferroscope.survival.cox_per_sd`), Harrell's C-index of the
    score in its locked direction (higher risk = shorter survival; ties in risk 1/2) with
    percentile-bootstrap CI, HR high vs low at the training cut-point, cumulative/dynamic time-
    dependent AUC at 1, 3, 5 years (Uno IPCW, scikit-survival; bootstrap CI), and calibration
    (Van Calster et al. 2016, J Clin Epidemiol 74:167; McLernon et al. 2023, Ann Intern Med
    176:105): the calibration slope (``coxph(Surv ~ lp)`` in the cohort, Wald CI), calibration-
    in-the-large at 3 years (KM observed vs mean predicted ``S0(36)^exp(lp)``, O/E of the event
    probability with CI), the smoothed calibration curve and ICI (Austin et al. 2020, Stat Med
    39:2714) when the cohort has enough events, and predicted vs observed survival in each risk
    group.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.utils import concordance_index
from scipy.stats import norm

from .errors import FerroscopeError
from .survival import SurvivalResult, cox_per_sd, fit_cox

CALIBRATION_MONTHS = 36.0
BASELINE_MONTHS = (12.0, 36.0, 60.0)
#: the smoothed calibration curve needs this many events (by the horizon) in the cohort
CURVE_MIN_EVENTS = 50
SELECT = ("lambda_min", "lambda_1se")
VALIDATION_SCALING = ("within_cohort", "training")
CUTPOINT_RULES = ("median", "{quantile: q} with 0 < q < 1", "{value: x} on the risk scale")


@dataclass(frozen=True)
class ModelSettings:
    """Every setting of a penalised Cox model with its default: the one home of the defaults.

    The ``models`` block of ``workflow/schemas/config.schema.yaml`` states the same defaults
    (``tests/test_riskmodel.py`` reads both and checks they agree). :meth:`from_config` checks
    the values the schema cannot (a misspelt ``select``, ``cutpoint`` or
    ``validation_scaling`` stops with the allowed ones), so the package is safe to call
    without the workflow.
    """

    cohort: str = ""
    endpoint: str = "os"
    universe: str | tuple[str, ...] = "curated"
    l1_ratio: float = 1.0
    folds: int = 10
    cv_repeats: int = 10
    seed: int = 12
    select: str = "lambda_min"
    cutpoint: str | dict[str, float] = "median"
    validation_scaling: str = "within_cohort"

    @classmethod
    def from_config(cls, name: str, entry: dict[str, Any],
                    source: str = "config/config.yaml") -> ModelSettings:
        """Settings of ``models.<name>`` (missing keys take the defaults; unknown keys stop)."""
        known = set(cls.__dataclass_fields__)
        extra = sorted(set(entry) - known)
        if extra:
            raise FerroscopeError(f"model {name}: unknown key '{extra[0]}'.", file=source,
                                  field=f"models.{name}.{extra[0]}",
                                  fix=f"remove it or use one of: {', '.join(sorted(known))}.")
        values = dict(entry)
        if isinstance(values.get("universe"), list):
            values["universe"] = tuple(values["universe"])
        settings = cls(**values)
        settings.check(name, source)
        return settings

    def check(self, name: str = "model", source: str = "config/config.yaml") -> None:
        """Stop on a value outside the allowed ones, naming them."""
        def bad(key: str, value: Any, allowed: tuple[str, ...]) -> FerroscopeError:
            return FerroscopeError(f"model {name}: {key} {value!r} is not one of: "
                                   f"{', '.join(allowed)}.", file=source,
                                   field=f"models.{name}.{key}",
                                   fix=f"use one of: {', '.join(allowed)}.")
        if self.select not in SELECT:
            raise bad("select", self.select, SELECT)
        if self.validation_scaling not in VALIDATION_SCALING:
            raise bad("validation_scaling", self.validation_scaling, VALIDATION_SCALING)
        cut_rule(self.cutpoint, name=name, source=source)
        for key, low in (("folds", 3), ("cv_repeats", 1)):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise FerroscopeError(f"model {name}: {key} {value!r} is not an integer "
                                      f">= {low}.", file=source, field=f"models.{name}.{key}",
                                      fix=f"give an integer >= {low}.")


DEFAULTS = ModelSettings()


def cut_rule(cutpoint: Any, *, name: str = "model", source: str = "config/config.yaml"
             ) -> tuple[str, float]:
    """``(kind, number)`` of a cut-point setting: ("median", 0.5), ("quantile", q), ("value",
    x); anything else stops with the allowed forms."""
    if cutpoint == "median":
        return "median", 0.5
    if isinstance(cutpoint, dict) and len(cutpoint) == 1:
        (kind, value), = cutpoint.items()
        number = value if isinstance(value, int | float) and not isinstance(value, bool) \
            else np.nan
        if kind == "quantile" and 0 < number < 1:
            return "quantile", float(number)
        if kind == "value" and np.isfinite(number):
            return "value", float(number)
    raise FerroscopeError(f"model {name}: cutpoint {cutpoint!r} is not one of: "
                          f"{', '.join(CUTPOINT_RULES)}.", file=source,
                          field=f"models.{name}.cutpoint",
                          fix="use `cutpoint: median`, `cutpoint: {quantile: 0.67}` or "
                              "`cutpoint: {value: 0.5}`.")


def training_cutpoint(lp: np.ndarray, cutpoint: Any) -> tuple[float, str]:
    """The high/low cut-point on the training risk and a description of its rule."""
    kind, number = cut_rule(cutpoint)
    if kind == "median":
        return float(np.median(lp)), "median risk"
    if kind == "quantile":
        # numpy's default (linear) quantile = R's quantile(type = 7)
        return float(np.quantile(lp, number)), f"{number:g} quantile of the risk"
    return number, "fixed value"


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
    """Cross-validation curve along the full-data lambda path, averaged over repeats.

    ``cvm``/``cvsd``: the mean over repeats of each repeat's cv.glmnet ``cvm``/``cvsd``;
    ``cvm_repeats``: repeats x lambdas; ``lambda_min_repeats``/``lambda_1se_repeats``: each
    repeat's own choice (for the selection frequencies); ``folds``: repeats x samples.
    """

    alphas: np.ndarray
    cvm: np.ndarray
    cvsd: np.ndarray
    nonzero: np.ndarray
    lambda_min: float
    lambda_1se: float
    folds: np.ndarray
    cvm_repeats: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    lambda_min_repeats: np.ndarray = field(default_factory=lambda: np.empty(0))
    lambda_1se_repeats: np.ndarray = field(default_factory=lambda: np.empty(0))

    def table(self) -> pd.DataFrame:
        out = pd.DataFrame({"lambda": self.alphas, "cvm": self.cvm, "cvsd": self.cvsd,
                            "cvup": self.cvm + self.cvsd, "cvlo": self.cvm - self.cvsd,
                            "nonzero": self.nonzero})
        if len(self.cvm_repeats) > 1:
            out["cvm_repeats_min"] = self.cvm_repeats.min(axis=0)
            out["cvm_repeats_max"] = self.cvm_repeats.max(axis=0)
        return out


def fold_ids(n: int, n_folds: int, seed: int) -> np.ndarray:
    """Balanced fold labels 1..k in random order (fixed seed)."""
    return repeated_fold_ids(n, n_folds, 1, seed)[0]


def repeated_fold_ids(n: int, n_folds: int, repeats: int, seed: int) -> np.ndarray:
    """``repeats`` x ``n`` balanced fold labels 1..k, one random order per repeat (one seeded
    generator; the first repeat is :func:`fold_ids` of the same seed)."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(np.arange(n) % n_folds) + 1 for _ in range(repeats)])


def _select_lambdas(alphas: np.ndarray, cvm: np.ndarray, cvsd: np.ndarray
                    ) -> tuple[float, float]:
    """cv.glmnet's lambda.min (argmin cvm) and lambda.1se (largest lambda with cvm within one
    cvsd of the minimum)."""
    best = int(np.argmin(cvm))
    within = np.flatnonzero(cvm <= cvm[best] + cvsd[best])
    return float(alphas[best]), float(alphas[within].max())


def _cv_curve(x: np.ndarray, time: np.ndarray, event: np.ndarray, alphas: np.ndarray,
              folds: np.ndarray, l1_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """cvm and cvsd of one fold assignment (cv.glmnet ``grouped = TRUE``, deviance)."""
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
    return cvm, cvsd


def cv_coxnet(x: np.ndarray, time: np.ndarray, event: np.ndarray, *, l1_ratio: float = 1.0,
              n_folds: int = 10, seed: int = 0, n_alphas: int = 100,
              alpha_min_ratio: float | str = "auto", folds: np.ndarray | None = None,
              repeats: int = 1) -> tuple[CVResult, np.ndarray]:
    """Repeated k-fold CV of the grouped partial-likelihood deviance along the full-data path.

    ``folds``: one fold vector (n) or one per repeat (repeats x n); else ``repeats`` seeded
    assignments (:func:`repeated_fold_ids`). Each repeat's curve is cv.glmnet's; the curve the
    penalty is chosen on is their mean (cvm and cvsd averaged over repeats, as averaging
    ``cv.glmnet`` fits over the same fold ids in R). Returns the CV result and the full-data
    coefficients (genes x lambdas).
    """
    alphas, coef = fit_path(x, time, event, l1_ratio=l1_ratio, n_alphas=n_alphas,
                            alpha_min_ratio=alpha_min_ratio)
    if folds is None:
        folds = repeated_fold_ids(len(time), n_folds, repeats, seed)
    folds = np.atleast_2d(np.asarray(folds))
    curves = [_cv_curve(x, time, event, alphas, f, l1_ratio) for f in folds]
    cvm_r = np.stack([c[0] for c in curves])
    cvsd_r = np.stack([c[1] for c in curves])
    per_repeat = np.array([_select_lambdas(alphas, m, sd) for m, sd in zip(cvm_r, cvsd_r,
                                                                        strict=True)])
    cvm, cvsd = cvm_r.mean(axis=0), cvsd_r.mean(axis=0)
    lam_min, lam_1se = _select_lambdas(alphas, cvm, cvsd)
    res = CVResult(alphas, cvm, cvsd, (coef != 0).sum(axis=0), lam_min, lam_1se,
                   folds if len(folds) > 1 else folds[0], cvm_r, per_repeat[:, 0],
                   per_repeat[:, 1])
    return res, coef


def selection_frequency(cv: CVResult, coef: np.ndarray, genes: list[str], select: str
                        ) -> pd.Series:
    """Share of CV repeats whose own penalty (``select`` rule on that repeat's curve) gives the
    gene a non-zero coefficient in the full-data path."""
    lams = cv.lambda_min_repeats if select == "lambda_min" else cv.lambda_1se_repeats
    cols = [int(np.flatnonzero(cv.alphas == lam)[0]) for lam in lams]
    return pd.Series((coef[:, cols] != 0).mean(axis=1), index=genes,
                     name="selection_frequency")


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
    baseline_survival: dict[float, float]    # NaN past the last training follow-up
    n: int
    events: int
    n_universe: int
    settings: dict[str, Any] = field(default_factory=dict)
    risk: pd.Series = field(default_factory=pd.Series)
    selection: pd.Series = field(default_factory=pd.Series)   # per universe gene
    notes: list[str] = field(default_factory=list)

    @property
    def scale(self) -> str:
        """The signature file's scale: within-cohort or training standardisation."""
        return ("training_zscore" if self.settings.get("validation_scaling") == "training"
                else "zscore")

    def signature_text(self) -> str:
        """The frozen model as a signature file (commented YAML header + gene/coefficient)."""
        import yaml

        training = self.scale == "training_zscore"
        meta = {
            "name": self.name,
            "citation": f"trained by ferroscope in cohort {self.cohort}",
            "endpoint": self.settings.get("endpoint", "os"),
            "scale": self.scale,
            "scale_note": ("genes standardised with the training cohort's means and population "
                           "SDs (validation_scaling: training)" if training else
                           "genes standardised within each cohort (mean 0, population SD)"),
            "cutoff": float(self.cutpoint),
            "cutoff_note": f"{self.settings.get('cutpoint_rule', 'median risk')} in the "
                           f"training cohort {self.cohort}",
            "coefficients_source": f"LASSO/elastic-net Cox (l1_ratio "
                                   f"{self.settings.get('l1_ratio', 1.0)}) at {self.selected} "
                                   f"= {self.selected_lambda:.6g}",
            "checked": "frozen at training; applied unchanged in validation cohorts",
            "training_cohort": self.cohort,
            "baseline_survival": {float(k): (float(v) if np.isfinite(v) else None)
                                  for k, v in self.baseline_survival.items()},
        }
        head = "".join(f"# {ln}\n" for ln in yaml.safe_dump(meta, sort_keys=False).splitlines())
        if training:
            rows = "".join(f"{g}\t{c:.17g}\t{self.train_mean[g]:.17g}\t{self.train_sd[g]:.17g}\n"
                           for g, c in self.coefficients.items())
            return head + "gene\tcoefficient\ttrain_mean\ttrain_sd\n" + rows
        rows = "".join(f"{g}\t{c:.17g}\n" for g, c in self.coefficients.items())
        return head + "gene\tcoefficient\n" + rows

    def coefficient_table(self) -> pd.DataFrame:
        """Frozen coefficients per training SD and per log2 unit, with training mean and SD."""
        return pd.DataFrame({"gene": self.coefficients.index,
                             "coefficient": self.coefficients.to_numpy(),
                             "coefficient_per_unit": (self.coefficients
                                                      / self.train_sd).to_numpy(),
                             "train_mean": self.train_mean.to_numpy(),
                             "train_sd": self.train_sd.to_numpy(),
                             "selection_frequency": self.selection.reindex(
                                 self.coefficients.index).to_numpy()})

    def selection_table(self) -> pd.DataFrame:
        """Selection frequency over CV repeats of every universe gene ever selected, with its
        frozen coefficient (0 when not in the frozen model)."""
        sel = self.selection[self.selection > 0].sort_values(ascending=False, kind="stable")
        genes = list(dict.fromkeys([*sel.index, *self.coefficients.index]))
        coef = self.coefficients.reindex(genes).fillna(0.0)
        return pd.DataFrame({"gene": genes,
                             "selection_frequency": self.selection.reindex(genes).to_numpy(),
                             "in_model": (coef != 0).to_numpy(),
                             "coefficient": coef.to_numpy()})

    def summary(self) -> dict[str, Any]:
        """What model.json records: penalties, cut-point, baseline, sizes, settings."""
        def at(lam: float) -> int:
            return int(self.cv.nonzero[self.cv.alphas == lam][0])

        baseline = {str(k): (v if np.isfinite(v) else None)
                    for k, v in self.baseline_survival.items()}
        return {"name": self.name, "cohort": self.cohort, "selected": self.selected,
                "lambda_min": self.lambda_min, "lambda_1se": self.lambda_1se,
                "lambda": self.selected_lambda, "n_selected": len(self.coefficients),
                "nonzero_at_lambda_min": at(self.lambda_min),
                "nonzero_at_lambda_1se": at(self.lambda_1se),
                "lambda_min_repeats": [float(v) for v in self.cv.lambda_min_repeats],
                "lambda_1se_repeats": [float(v) for v in self.cv.lambda_1se_repeats],
                "nonzero_repeats": [at(v) for v in (self.cv.lambda_min_repeats
                                                    if self.selected == "lambda_min"
                                                    else self.cv.lambda_1se_repeats)],
                "cutpoint": self.cutpoint, "n": self.n, "events": self.events,
                "n_universe": self.n_universe,
                "baseline_survival": baseline,
                "standardisation": (
                    "genes standardised with the training cohort's means and population SDs "
                    "in every cohort (validation_scaling: training)"
                    if self.scale == "training_zscore" else
                    "genes standardised within each cohort: mean 0, population SD (divisor n)"
                ) + "; coefficients are per training SD",
                "ties": "Breslow", "notes": list(self.notes), **self.settings}

    @property
    def selected_lambda(self) -> float:
        return self.lambda_min if self.selected == "lambda_min" else self.lambda_1se


def baseline_at(survival: Any, horizons: tuple[float, ...], last_followup: float
                ) -> tuple[dict[float, float], list[str]]:
    """Breslow baseline survival at each horizon; NaN (with a note) past the last follow-up,
    where the step function is not estimated (it would silently repeat its last value)."""
    out, notes = {}, []
    for h in horizons:
        if h > last_followup:
            out[h] = np.nan
            notes.append(f"baseline survival at {h:g} months not estimated: the training "
                         f"follow-up ends at {last_followup:.1f} months")
        else:
            out[h] = float(survival(h))
    return out, notes


def train_coxnet(expr: pd.DataFrame, time: pd.Series, event: pd.Series, *, name: str,
                 cohort: str, universe: list[str], l1_ratio: float = DEFAULTS.l1_ratio,
                 n_folds: int = DEFAULTS.folds, cv_repeats: int = DEFAULTS.cv_repeats,
                 seed: int = DEFAULTS.seed, select: str = DEFAULTS.select,
                 cutpoint: str | dict[str, float] = DEFAULTS.cutpoint,
                 validation_scaling: str = DEFAULTS.validation_scaling, n_alphas: int = 100,
                 alpha_min_ratio: float | str = "auto", min_events: int = 10,
                 source: str = "config/config.yaml", endpoint: str = DEFAULTS.endpoint
                 ) -> TrainedModel:
    """Train a penalised Cox model on ``expr`` (genes x samples) restricted to ``universe``.

    Defaults are those of :class:`ModelSettings`; a value outside the allowed ones stops.
    """
    from sksurv.linear_model.coxph import BreslowEstimator

    ModelSettings(cohort=cohort, endpoint=endpoint, l1_ratio=l1_ratio, folds=n_folds,
                  cv_repeats=cv_repeats, seed=seed, select=select, cutpoint=cutpoint,
                  validation_scaling=validation_scaling).check(name, source)
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
                         n_alphas=n_alphas, alpha_min_ratio=alpha_min_ratio,
                         repeats=cv_repeats)
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
    s0, notes = baseline_at(baseline.baseline_survival_, BASELINE_MONTHS, float(t.max()))
    cut, rule = training_cutpoint(lp, cutpoint)
    return TrainedModel(
        name=name, cohort=cohort, coefficients=coefs, train_mean=mean[coefs.index],
        train_sd=sd[coefs.index], cutpoint=cut, selected=select,
        lambda_min=cv.lambda_min, lambda_1se=cv.lambda_1se, cv=cv, baseline_survival=s0,
        n=len(t), events=n_events, n_universe=z.shape[1], risk=risk,
        selection=selection_frequency(cv, coef, list(z.columns), select), notes=notes,
        settings={"l1_ratio": l1_ratio, "n_folds": n_folds, "cv_repeats": cv_repeats,
                  "seed": seed, "cutpoint_setting": cutpoint, "cutpoint_rule": rule,
                  "validation_scaling": validation_scaling, "endpoint": endpoint})


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
