r"""Random-effects meta-analysis across cohorts: REML + Hartung-Knapp-Sidik-Jonkman, or DL.

Model: :math:`y_i = \mu + u_i + e_i`, :math:`u_i \sim N(0, \tau^2)`, :math:`e_i \sim N(0, v_i)`
with :math:`v_i` the within-cohort variance (SE²). With :math:`w_i = 1/(v_i + \hat\tau^2)` the
pooled estimate is :math:`\hat\mu = \sum w_i y_i / \sum w_i`.

``reml_hksj`` (default): :math:`\hat\tau^2` by restricted maximum likelihood, Fisher scoring
exactly as R metafor's ``rma.uni(method = "REML")`` iterates it (start: the Hedges estimator
truncated at 0; step :math:`(y'PPy - \mathrm{tr}P)/\mathrm{tr}(PP)`, halved while it would
make :math:`\tau^2 < 0`; stop when the change is <= 1e-5; at most 100 steps; metafor's check
that :math:`\tau^2 = 0` does not have the higher restricted likelihood). The CI is the
Hartung-Knapp-Sidik-Jonkman one of ``rma(test = "knha")``: variance
:math:`s^2_w / \sum w_i` with :math:`s^2_w = \sum w_i (y_i - \hat\mu)^2 / (k - 1)` (not
truncated at 1, as metafor), quantiles and p from :math:`t_{k-1}`.

``dl``: DerSimonian-Laird :math:`\hat\tau^2 = \max\{0, (Q - (k-1)) / (\sum w^{FE} -
\sum (w^{FE})^2 / \sum w^{FE})\}` with a normal-quantile (Wald) CI, ``rma(method = "DL")``.

Both report Cochran's :math:`Q` (fixed-effect weights) and its p,
:math:`I^2 = \hat\tau^2 / (\hat\tau^2 + \tilde v)` with the "typical" within-cohort variance
:math:`\tilde v = (k-1) / (\sum w^{FE} - \sum (w^{FE})^2/\sum w^{FE})` (metafor's definition;
for DL it equals :math:`(Q - (k-1))/Q`), and the 95% prediction interval for the effect in a
new cohort, metafor's ``predict()``: :math:`\hat\mu \pm c\,\sqrt{\mathrm{SE}^2 + \hat\tau^2}`
with :math:`c` the CI's quantile (:math:`t_{k-1}` for HKSJ, normal for DL).

All groups (set x endpoint x scoring method) are pooled at once: the inputs are (groups x
cohorts) arrays padded with NaN, and every group iterates until its own stop, as metafor would
for that group alone.

References: Viechtbauer W (2005) J Educ Behav Stat 30:261-293 (REML Fisher scoring); Hartung J,
Knapp G (2001) Stat Med 20:3875-3889; Sidik K, Jonkman JN (2002) Stat Med 21:3153-3159;
IntHout J et al. (2014) BMC Med Res Methodol 14:25; Riley RD et al. (2011) BMJ 342:d549
(prediction intervals); Viechtbauer W (2010) J Stat Softw 36(3) (metafor).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2, norm, t

REML_HKSJ = "reml_hksj"
DL = "dl"
METHODS = (REML_HKSJ, DL)
#: metafor's rma.uni control defaults (threshold, maxiter, tol of the tau² = 0 check)
THRESHOLD = 1e-5
MAX_ITER = 100
LL_TOL = float(np.finfo(float).eps ** 0.25)
EPS = float(np.finfo(float).eps)
LABEL = {REML_HKSJ: "REML random effects, Hartung-Knapp-Sidik-Jonkman CI",
         DL: "DerSimonian-Laird random effects, Wald CI"}


@dataclass
class MetaResult:
    """Per group (arrays of length G): the pooled estimate and heterogeneity statistics."""

    estimate: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p: np.ndarray
    tau2: np.ndarray
    i2: np.ndarray
    h2: np.ndarray
    q: np.ndarray
    q_p: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray
    k: np.ndarray
    converged: np.ndarray
    method: str


def _reml_loglik(y: np.ndarray, v: np.ndarray, m: np.ndarray, tau2: np.ndarray) -> np.ndarray:
    """Restricted log-likelihood of the intercept-only model at ``tau2`` (per group)."""
    w = np.where(m, 1 / (v + tau2[:, None]), 0.0)
    sw = w.sum(axis=1)
    mu = (w * y).sum(axis=1) / sw
    rss = (w * (y - mu[:, None]) ** 2).sum(axis=1)
    k = m.sum(axis=1)
    logv = np.where(m, np.log(np.where(m, v + tau2[:, None], 1.0)), 0.0).sum(axis=1)
    return -0.5 * (k - 1) * np.log(2 * np.pi) - 0.5 * logv - 0.5 * np.log(sw) - 0.5 * rss


def reml_tau2(y: np.ndarray, v: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """tau² by REML, metafor's Fisher scoring; returns (tau2, converged) per group."""
    k = m.sum(axis=1)
    ybar = (y * m).sum(axis=1) / k
    rss = (m * (y - ybar[:, None]) ** 2).sum(axis=1)
    tr_pv = (v * m).sum(axis=1) * (1 - 1 / k)
    tau2 = np.maximum(0.0, (rss - tr_pv) / (k - 1))          # Hedges start, truncated at 0
    active = np.ones(len(y), bool)
    converged = np.ones(len(y), bool)
    for it in range(1, MAX_ITER + 2):
        if not active.any():
            break
        w = np.where(m, 1 / (v + tau2[:, None]), 0.0)[active]
        yy = y[active]
        sw, sw2 = w.sum(axis=1), (w**2).sum(axis=1)
        mu = (w * yy).sum(axis=1) / sw
        ypp_y = (w**2 * (yy - mu[:, None]) ** 2).sum(axis=1)
        tr_p = sw - sw2 / sw
        tr_pp = sw2 - 2 * (w**3).sum(axis=1) / sw + sw2**2 / sw**2
        adj = (ypp_y - tr_p) / tr_pp
        adj = np.where(np.isnan(adj), 0.0, adj)
        old = tau2[active]
        while np.any(neg := old + adj < 0):
            adj = np.where(neg, adj / 2, adj)
        new = old + adj
        tau2[active] = new
        done = np.abs(old - new) <= THRESHOLD
        if it > MAX_ITER:
            converged[active] = False
            break
        idx = np.flatnonzero(active)
        active[idx[done]] = False
    # metafor: fall back to tau² = 0 when it has the higher restricted likelihood
    ll0 = _reml_loglik(y, v, m, np.zeros(len(y)))
    ll = _reml_loglik(y, v, m, tau2)
    stuck = converged & (ll0 - ll > LL_TOL) & (tau2 > THRESHOLD)
    tau2 = np.where(stuck, 0.0, tau2)
    return np.maximum(0.0, tau2), converged


def pool(yi: np.ndarray, sei: np.ndarray, *, method: str = REML_HKSJ, null: float = 0.0,
         level: float = 0.95) -> MetaResult:
    """Pool each row of ``yi`` (groups x cohorts; NaN where a cohort has no estimate).

    ``sei``: the matching standard errors; ``null``: the value tested (0 for a log HR, 0.5 for
    an AUC). Groups with fewer than 2 estimates, or whose REML did not converge
    (``converged`` False), get NaN.
    """
    if method not in METHODS:
        raise ValueError(f"meta-analysis method must be one of {METHODS}, not {method!r}")
    y = np.atleast_2d(np.asarray(yi, float))
    v = np.atleast_2d(np.asarray(sei, float)) ** 2
    m = np.isfinite(y) & np.isfinite(v) & (v > 0)
    y, v = np.where(m, y, 0.0), np.where(m, v, 1.0)
    k = m.sum(axis=1)
    ok = k >= 2
    y, v, m = y[ok], v[ok], m[ok]
    kk = k[ok].astype(float)
    # fixed-effect quantities: Cochran's Q, tr(P) and the typical within-cohort variance
    wf = np.where(m, 1 / v, 0.0)
    swf = wf.sum(axis=1)
    muf = (wf * y).sum(axis=1) / swf
    q = np.maximum(0.0, (wf * (y - muf[:, None]) ** 2).sum(axis=1))
    tr_pf = swf - (wf**2).sum(axis=1) / swf
    if method == DL:
        tau2, conv = np.maximum(0.0, (q - (kk - 1)) / tr_pf), np.ones(len(y), bool)
    else:
        tau2, conv = reml_tau2(y, v, m)
    w = np.where(m, 1 / (v + tau2[:, None]), 0.0)
    sw = w.sum(axis=1)
    mu = (w * y).sum(axis=1) / sw
    var = 1 / sw
    alpha = 1 - level
    if method == REML_HKSJ:
        rss = (w * (y - mu[:, None]) ** 2).sum(axis=1)
        s2w = np.where(rss <= EPS, 0.0, rss / (kk - 1))
        var = s2w * var
        crit = t.ppf(1 - alpha / 2, kk - 1)
    else:
        crit = np.full(len(y), norm.ppf(1 - alpha / 2))
    se = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (mu - null) / se
    p = 2 * (t.sf(np.abs(z), kk - 1) if method == REML_HKSJ else norm.sf(np.abs(z)))
    half_pi = crit * np.sqrt(var + tau2)
    vt = (kk - 1) / tr_pf
    out = {
        "estimate": mu, "se": se, "ci_low": mu - crit * se, "ci_high": mu + crit * se, "p": p,
        "tau2": tau2, "i2": tau2 / (vt + tau2), "h2": tau2 / vt + 1, "q": q,
        "q_p": chi2.sf(q, kk - 1), "pi_low": mu - half_pi, "pi_high": mu + half_pi,
    }
    full = {}
    for name, val in out.items():
        arr = np.full(len(k), np.nan)
        arr[ok] = np.where(conv, val, np.nan)     # metafor stops with an error instead
        full[name] = arr
    conv_full = np.zeros(len(k), bool)
    conv_full[ok] = conv
    return MetaResult(**full, k=k, converged=conv_full, method=method)
