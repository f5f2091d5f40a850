"""Elastic-net Cox path and its cross-validation, as glmnet's ``family = "cox"``.

Path (:func:`fit_path`)
    scikit-survival's ``CoxnetSurvivalAnalysis`` fits the elastic-net Cox path (Breslow ties,
    objective ``-l(beta)/n + lambda * (a ||beta||_1 + (1 - a)/2 ||beta||_2^2)``, Simon et al.
    2011, J Stat Softw 39:5; the same as glmnet's ``family = "cox"``) on genes standardised to
    mean 0 and population SD (divisor n, glmnet's ``standardize = TRUE``: :func:`standardise`).

Cross-validation (:func:`cv_coxnet`)
    k-fold cross-validation of the partial likelihood as ``cv.glmnet(type.measure =
    "deviance", grouped = TRUE)`` does (Verweij & van Houwelingen 1993, Stat Med 12:2305): for
    fold k fitted without fold k, ``CVD_k = D(beta_-k; all) - D(beta_-k; all but k)`` with
    ``D`` the Breslow partial-likelihood deviance; ``cvm = sum_k CVD_k / sum_k d_k`` (d_k:
    events in fold k), ``cvsd`` the event-weighted SD of ``CVD_k / d_k`` over folds /
    sqrt(k - 1); each fold is standardised on its own training part, as glmnet does.
    ``lambda.min`` minimises cvm; ``lambda.1se`` is the largest lambda with cvm within one cvsd
    of the minimum. The CV is repeated with fold assignments from one seeded generator; cvm
    and cvsd are averaged over repeats and the penalty is chosen on that mean curve (as
    averaging ``cv.glmnet`` fits over the same fold ids in R); each gene's selection frequency
    (:func:`selection_frequency`) is the share of repeats whose own penalty selects it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


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

