r"""Proportional-hazards test of a Cox fit: R survival's ``cox.zph`` score test, vectorised.

For a Cox model with coefficients :math:`\hat\beta` the test asks whether each covariate's
effect drifts with a function of time :math:`g(t)`: it is the score test of
:math:`\gamma = 0` in the extended model :math:`\beta(t) = \beta + \gamma\,g(t)`, evaluated at
:math:`(\hat\beta, 0)` (Grambsch & Therneau 1994; the exact score test of R survival >= 3.0,
which replaced the approximate test still used by lifelines' ``proportional_hazard_test``).
With :math:`\bar x_k, V_k` the weighted mean and variance of the covariates over the risk set
of event :math:`k` (Efron ties: the tied deaths enter the :math:`d` sums with weights
:math:`1, (d-1)/d, \dots, 1/d`) and :math:`g_k = g(t_k) - \overline{g}` centred over events,

.. math::

    U_\gamma = \sum_k g_k (x_k - \bar x_k), \qquad
    \mathcal I = \sum_k \begin{pmatrix} V_k & g_k V_k \\ g_k V_k & g_k^2 V_k \end{pmatrix},

and the statistic of a term with columns :math:`J` is :math:`u^\top \mathcal I_{KK}^{-1} u`
with :math:`K = (1..p, p + J)` and :math:`u = (0, U_{\gamma,J})` (the score for
:math:`\beta` is 0 at the fit), chi-square with :math:`|J|` df; the global row uses all
columns (:math:`p` df). ``transform = "km"`` (R's default): :math:`g(t) = 1 - \hat S(t^-)`,
the Kaplan-Meier estimate over all patients just before :math:`t`.

This is the arithmetic of R ``survival:::cox.zph`` and its C routine ``zph1`` (survival 3.5,
right-censored data, no strata, unit weights), written with cumulative sums over the
time-ordered patients, so one call serves many univariate fits at once (``cox_zph_batch``).

Reference: Grambsch PM, Therneau TM (1994) Biometrika 81:515-526; Therneau TM, Grambsch PM
(2000) *Modeling Survival Data*, ch. 6; R survival ``?cox.zph``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import chi2

GLOBAL = "GLOBAL"


def km_transform(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """``1 - S(t-)`` per patient: Kaplan-Meier over all patients, just before their time.

    R: ``survfitKM`` then ``1 - c(1, surv)[findInterval(time, km$time, left.open = TRUE) + 1]``.
    """
    time = np.asarray(time, float)
    event = np.asarray(event, float)
    uniq, inv = np.unique(time, return_inverse=True)
    deaths = np.bincount(inv, weights=event, minlength=len(uniq))
    at_risk = np.cumsum(np.bincount(inv, minlength=len(uniq))[::-1])[::-1]
    surv = np.cumprod(1.0 - deaths / at_risk)
    before = np.r_[1.0, surv[:-1]]
    return 1.0 - before[inv]


def _revcumsum(a: np.ndarray) -> np.ndarray:
    """Sum over the patients at or after each position (axis 1 is the time-ordered axis)."""
    return np.flip(np.cumsum(np.flip(a, axis=1), axis=1), axis=1)


def _score_and_information(time: np.ndarray, event: np.ndarray, X: np.ndarray,
                           beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """U_gamma (F, p) and the 2p x 2p information (F, 2p, 2p) of F fits sharing (time, event).

    ``X``: (F, n, p) covariates; ``beta``: (F, p) fitted coefficients.
    """
    n_fit, n, p = X.shape
    order = np.argsort(time, kind="stable")
    t, e = time[order], event[order].astype(bool)
    x = X[:, order, :] - X.mean(axis=1, keepdims=True)     # centred, as zph1 does
    g = km_transform(t, e)
    g = g - g[e].mean()
    r = np.exp(np.einsum("fnp,fp->fn", x, beta))
    rx = r[:, :, None] * x
    rxx = rx[:, :, :, None] * x[:, :, None, :]
    # risk-set sums at each distinct time: everyone with time >= t
    starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1]])
    s0 = _revcumsum(r)[:, starts]
    s1 = _revcumsum(rx)[:, starts]
    s2 = _revcumsum(rxx)[:, starts]
    # sums over the deaths at each distinct time
    ev = e.astype(float)
    d = np.add.reduceat(ev, starts)
    d0 = np.add.reduceat(r * ev, starts, axis=1)
    d1 = np.add.reduceat(rx * ev[None, :, None], starts, axis=1)
    d2 = np.add.reduceat(rxx * ev[None, :, None, None], starts, axis=1)
    gt = g[starts]
    # one term per death (Efron): the k-th of d tied deaths sees the deaths' sums times k/d
    has = d > 0
    reps = d[has].astype(int)
    idx = np.repeat(np.flatnonzero(has), reps)
    frac = np.concatenate([np.arange(m) / m for m in reps]) if reps.size else np.zeros(0)
    den = s0[:, idx] - frac * d0[:, idx]
    a = s1[:, idx] - frac[:, None] * d1[:, idx]
    c = s2[:, idx] - frac[:, None, None] * d2[:, idx]
    mean = a / den[:, :, None]
    var = c / den[:, :, None, None] - mean[:, :, :, None] * mean[:, :, None, :]
    gk = gt[idx]
    xd = x[:, e, :]                         # the deaths' covariates (time order, like idx)
    u = np.einsum("k,fkp->fp", g[e], xd) - np.einsum("k,fkp->fp", gk, mean)
    i00 = var.sum(axis=1)
    i01 = np.einsum("k,fkpq->fpq", gk, var)
    i11 = np.einsum("k,fkpq->fpq", gk**2, var)
    info = np.concatenate([np.concatenate([i00, i01], axis=2),
                           np.concatenate([i01, i11], axis=2)], axis=1)
    return u, info


def _quadratic(u: np.ndarray, info: np.ndarray, cols: Sequence[int], p: int) -> np.ndarray:
    """u' I_KK^-1 u with K = (0..p-1, p + cols) and u zero on the beta part, per fit."""
    kk = np.r_[np.arange(p), p + np.asarray(cols, int)]
    sub = info[:, kk[:, None], kk[None, :]]
    vec = np.concatenate([np.zeros((u.shape[0], p)), u[:, cols]], axis=1)
    sol = np.linalg.solve(sub, vec[:, :, None])[:, :, 0]
    return np.einsum("fk,fk->f", sol, vec)


def cox_zph(time: Sequence[float] | np.ndarray, event: Sequence[float] | np.ndarray,
            X: pd.DataFrame | np.ndarray, beta: Sequence[float] | np.ndarray, *,
            terms: Mapping[str, Sequence[int]] | None = None,
            global_test: bool = True) -> pd.DataFrame:
    """``cox.zph(fit, transform = "km", terms = TRUE, global = TRUE)`` of one Cox fit.

    ``X``: patients x covariates (a DataFrame names the rows of the result); ``beta``: the
    fitted coefficients (Efron ties, as ``coxph``'s default); ``terms``: term name -> column
    positions, for a factor coded as several columns (default: one term per column).
    Returns a frame indexed by term (and ``GLOBAL``) with ``chisq``, ``df`` and ``p``.
    """
    names = list(map(str, X.columns)) if isinstance(X, pd.DataFrame) else None
    x = np.asarray(X, float)
    if x.ndim == 1:
        x = x[:, None]
    p = x.shape[1]
    names = names or [f"x{j + 1}" for j in range(p)]
    terms = dict(terms) if terms is not None else {nm: [j] for j, nm in enumerate(names)}
    u, info = _score_and_information(np.asarray(time, float), np.asarray(event, float),
                                     x[None], np.asarray(beta, float).reshape(1, p))
    rows = {name: (float(_quadratic(u, info, list(cols), p)[0]), len(cols))
            for name, cols in terms.items()}
    if global_test:
        rows[GLOBAL] = (float(_quadratic(u, info, list(range(p)), p)[0]), p)
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["chisq", "df"])
    out["p"] = chi2.sf(out["chisq"], out["df"])
    return out


def cox_zph_batch(time: Sequence[float] | np.ndarray, event: Sequence[float] | np.ndarray,
                  X: np.ndarray, beta: Sequence[float] | np.ndarray) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    """The univariate ``cox.zph`` test of many scores at once: (chi-square, p) per row.

    ``X``: features x patients (no missing values; every row shares ``time`` and ``event``);
    ``beta``: each feature's univariate Cox coefficient. Cost O(features x patients).
    """
    x = np.asarray(X, float)
    if x.ndim == 1:
        x = x[None, :]
    b = np.asarray(beta, float).reshape(-1, 1)
    u, info = _score_and_information(np.asarray(time, float), np.asarray(event, float),
                                     x[:, :, None], b)
    stat = u[:, 0] ** 2 / (info[:, 1, 1] - info[:, 0, 1] ** 2 / info[:, 0, 0])
    return stat, chi2.sf(stat, 1)
