r"""Batch statistics engine: every feature (gene set, gene) of a samples x features matrix at once.

The screening statistics of the survival and response steps, vectorised over features instead of
one lifelines / scipy call per feature. Each function takes a samples x features
``pd.DataFrame`` (missing values allowed: every feature uses its own complete cases) and returns
a tidy frame indexed by the features. lifelines, scipy and R are the reference implementations
in the tests (``tests/test_batchstats.py``, ``tests/test_reference_batchstats.py``).

``standardise``
    Per-SD standardisation :math:`z = (x - \bar x) / s` with the sample SD (``ddof = 1``) over
    the non-missing values of each feature: the project's one definition of "per SD".

``cox_efron``
    Univariate Cox proportional-hazards model :math:`h(t \mid z) = h_0(t) e^{\beta z}` of each
    feature standardised within its complete cases, Efron's approximation for tied event times
    (Efron B (1977) JASA 72:557-565; Therneau TM, Grambsch PM (2000) *Modeling Survival Data*,
    ch. 3). With the samples sorted by time, the risk-set sums
    :math:`S_k(\beta) = \sum_{i: t_i \ge \tau_k} e^{\beta z_i} z_i^k` are reverse cumulative
    sums and the sums over the :math:`d_k` events tied at :math:`\tau_k` are
    :math:`E_k = \sum_{i \in D_k} e^{\beta z_i} z_i^k`, all as (event times x features)
    arrays. The Efron partial log-likelihood, score and information are

    .. math::
        \ell = \sum_k \Big[\sum_{i \in D_k} \beta z_i - \sum_{r=0}^{d_k-1}
               \log(S_0 - \tfrac{r}{d_k} E_0)\Big],\quad
        U = \sum_k \sum_r \Big[\bar z_{D_k} - \frac{S_1 - a E_1}{S_0 - a E_0}\Big],\quad
        I = \sum_k \sum_r \Big[\frac{S_2 - a E_2}{S_0 - a E_0}
            - \Big(\frac{S_1 - a E_1}{S_0 - a E_0}\Big)^2\Big]

    (:math:`a = r / d_k`). Newton-Raphson :math:`\beta \leftarrow \beta + U/I` from
    :math:`\beta = 0` with step halving when :math:`\ell` decreases (as R ``coxph``), for all
    features at once, until the step is below ``1e-12`` (as ``ferroscope.survival.fit_cox``),
    so the coefficient, its SE :math:`I^{-1/2}`, the Wald p and the likelihood-ratio p
    :math:`P(\chi^2_1 > 2[\ell(\hat\beta) - \ell(0)])` equal R ``coxph(ties = "efron")``.
    Exponentials are taken relative to each feature's largest :math:`\beta z` (no overflow).
    Edge cases are reported with ``status = "not tested"`` and a note, never as a huge HR:
    fewer than ``min_events`` events, a feature with no variance, and a monotone likelihood
    (the estimate diverges: :math:`|\beta|` per SD beyond ``BETA_MAX`` or no convergence within
    ``MAX_ITER`` steps; R warns "coefficient may be infinite" and reports a huge value).

    Harrell's C (Harrell FE et al. (1982) JAMA 247:2543) of the fitted linear predictor with the
    convention of lifelines and R ``concordance``: a pair is comparable when the shorter time
    is an event (an event and a censoring at the same time are comparable, two tied events are
    not); prediction ties count 1/2. Counted in :math:`O(n \log n)` per feature with a Fenwick
    tree (numba).

``logrank_median_split``
    Kaplan-Meier comparison above vs at-or-below each feature's median (as
    ``ferroscope.survival.km_median_split``): the log-rank statistic
    :math:`(O_h - E_h)^2 / V` with the hypergeometric variance
    :math:`V = \sum_k d_k \frac{n_{hk}}{n_k}(1 - \frac{n_{hk}}{n_k})\frac{n_k - d_k}{n_k - 1}`
    (Mantel 1966; R ``survdiff``), and the KM median survival of each group (the first time
    the KM curve is at or below 0.5, as lifelines; NaN when not reached).

``auc_delong``
    AUC :math:`= P(X_{pos} > X_{neg}) + \frac12 P(=)` from mid-ranks, its DeLong variance from
    placement values (DeLong ER, DeLong DM, Clarke-Pearson DL (1988) Biometrics 44:837) and the
    two-sided Mann-Whitney p (normal approximation with tie and continuity correction, scipy's
    exact distribution for small untied samples, as ``scipy.stats.mannwhitneyu``'s default).

``td_auc_bootstrap``
    Cumulative/dynamic AUC at fixed horizons with inverse-probability-of-censoring weights
    (Uno H et al. (2007) JASA 102:527; scikit-survival ``cumulative_dynamic_auc``) for every
    feature and every bootstrap resample of one shared index matrix.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

#: The 97.5% normal quantile (R: qnorm(0.975)), for 95% Wald intervals.
Z975 = float(norm.ppf(0.975))
#: Newton stops when every step (log HR per SD) is below this (as survival.fit_cox).
TOL = 1e-12
MAX_ITER = 60
#: |log HR per SD| beyond which the estimate is taken as diverging (monotone likelihood).
BETA_MAX = 20.0
#: Step halvings per Newton iteration when the log-likelihood decreases.
MAX_HALVING = 30

COX_COLUMNS = ["n", "events", "log_hr", "se_log_hr", "hr", "ci_low", "ci_high", "p_wald",
               "p_lr", "c_index", "n_iter", "status", "note"]
LOGRANK_COLUMNS = ["km_logrank_p", "km_median_high", "km_median_low", "km_note"]
AUC_COLUMNS = ["n", "n_pos", "n_neg", "auc", "se", "ci_low", "ci_high", "p_mwu", "status",
               "note"]


def _frame(X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X, dtype=float)
    return pd.DataFrame(arr.reshape(len(arr), -1))


def standardise(X: pd.DataFrame | np.ndarray, ddof: int = 1
                ) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    r"""Per-SD standardisation of a samples x features matrix, NaN-aware.

    :math:`z_{ij} = (x_{ij} - \bar x_j) / s_j` with the mean and the SD
    (:math:`s_j^2 = \sum_i (x_{ij} - \bar x_j)^2 / (n_j - \text{ddof})`, ``ddof = 1``: the sample
    SD, as R ``sd`` and pandas) over the ``n_j`` non-missing values of feature ``j``. Missing
    values stay missing; a feature with SD 0 (or fewer than ``ddof + 1`` values) has SD 0 or
    NaN and an all-NaN column. Returns (Z, mean, sd).
    """
    df = _frame(X)
    x = df.to_numpy(dtype=float)
    ok = ~np.isnan(x)
    cnt = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, x, 0.0).sum(axis=0) / cnt
        dev = np.where(ok, x - mean, 0.0)
        sd = np.sqrt((dev ** 2).sum(axis=0) / (cnt - ddof))
        sd = np.where(cnt > ddof, sd, np.nan)
        good = np.isfinite(sd) & (sd > 0)
        z = np.where(ok & good, dev / np.where(good, sd, 1.0), np.nan)
    return (pd.DataFrame(z, index=df.index, columns=df.columns),
            pd.Series(mean, index=df.columns), pd.Series(sd, index=df.columns))


def _survival_arrays(time: pd.Series | np.ndarray, event: pd.Series | np.ndarray,
                     X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows with a time and an event, sorted by time: (t, e, x) with x samples x features."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float)
    x = X.to_numpy(dtype=float)
    if not (len(t) == len(e) == len(x)):
        raise ValueError(f"time ({len(t)}), event ({len(e)}) and X ({len(x)} rows) differ "
                         "in length")
    keep = np.isfinite(t) & np.isfinite(e)
    t, e, x = t[keep], e[keep], x[keep]
    order = np.argsort(t, kind="stable")
    return t[order], e[order], x[order]


class _RiskSets:
    """Tie groups of time-sorted samples, for (features x samples) arrays (samples last).

    ``at_risk`` and ``in_events`` return (features x event times) sums: reverse cumulative
    sums read at the first sample of each event time, and differences of the cumulative sums
    of the events at the ends of the tie groups.
    """

    def __init__(self, t: np.ndarray, e: np.ndarray):
        n = len(t)
        starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1]]) if n else np.zeros(0, int)
        ends = np.r_[starts[1:], n] if n else np.zeros(0, int)
        has_event = np.add.reduceat(e, starts) > 0 if n else np.zeros(0, bool)
        self.event_starts = starts[has_event]          # first sample of each event time
        self.event_ends = ends[has_event]              # one past its last sample
        self.times = t[self.event_starts]
        self.e = e

    def at_risk(self, v: np.ndarray) -> np.ndarray:
        """Sum over the risk set (t_i >= tau_k) of v at each event time: (p, K)."""
        rev = np.cumsum(v[:, ::-1], axis=1)[:, ::-1]
        return rev[:, self.event_starts]

    def in_events(self, v: np.ndarray) -> np.ndarray:
        """Sum of v over the events tied at each event time: (p, K)."""
        cs = np.zeros((v.shape[0], v.shape[1] + 1))
        np.cumsum(v * self.e, axis=1, out=cs[:, 1:])
        return cs[:, self.event_ends] - cs[:, self.event_starts]


@numba.njit(cache=True, nogil=True)
def _efron(starts: np.ndarray, e: np.ndarray, z: np.ndarray, w: np.ndarray, beta: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Efron log-likelihood, score and information at ``beta`` for every row of ``z``.

    ``z``, ``w``: features x samples (samples sorted by time; ``w`` 1 where observed);
    ``starts``: first sample of each tie group, plus n at the end. One pass per feature from the
    longest time down accumulates the risk-set sums S0, S1, S2 and, per tie group, the event
    sums E0, E1, E2; exponentials relative to the feature's largest beta z.
    """
    p, n = z.shape
    ll = np.zeros(p)
    u = np.zeros(p)
    info = np.zeros(p)
    for j in range(p):
        b = beta[j]
        c = -np.inf
        for i in range(n):
            if w[j, i] > 0 and b * z[j, i] > c:
                c = b * z[j, i]
        if not np.isfinite(c):
            c = 0.0
        s0 = s1 = s2 = 0.0
        for g in range(len(starts) - 2, -1, -1):
            e0 = e1 = e2 = 0.0
            sdz = 0.0
            dk = 0
            for i in range(starts[g], starts[g + 1]):
                if w[j, i] > 0:
                    zi = z[j, i]
                    r = np.exp(b * zi - c)
                    s0 += r
                    s1 += r * zi
                    s2 += r * zi * zi
                    if e[i] != 0:
                        e0 += r
                        e1 += r * zi
                        e2 += r * zi * zi
                        sdz += zi
                        dk += 1
            if dk == 0:
                continue
            ll[j] += b * sdz
            u[j] += sdz
            for k in range(dk):
                a = k / dk
                den = s0 - a * e0
                m1 = (s1 - a * e1) / den
                m2 = (s2 - a * e2) / den
                ll[j] -= np.log(den) + c
                u[j] -= m1
                info[j] += m2 - m1 * m1
    return ll, u, info


def _newton(starts: np.ndarray, e: np.ndarray, z: np.ndarray, w: np.ndarray
            ) -> dict[str, np.ndarray]:
    """Newton-Raphson with step halving for every column; converged/diverged flags."""
    p = z.shape[0]
    beta = np.zeros(p)
    ll0, u, info = _efron(starts, e, z, w, beta)
    ll = ll0.copy()
    converged = np.zeros(p, bool)
    diverged = np.zeros(p, bool)
    n_iter = np.zeros(p, int)
    active = np.arange(p)
    for it in range(1, MAX_ITER + 1):
        if active.size == 0:
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            step = u[active] / info[active]
        bad = ~np.isfinite(step)
        diverged[active[bad]] = True
        active, step = active[~bad], step[~bad]
        done = np.abs(step) < TOL
        beta[active[done]] += step[done]
        converged[active[done]] = True
        n_iter[active] = it
        active, step = active[~done], step[~done]
        if active.size == 0:
            break
        new = beta[active] + step
        res = _efron(starts, e, z[active], w[active], new)
        for _ in range(MAX_HALVING):   # step halving where the log-likelihood went down
            worse = ~(res[0] >= ll[active] - 1e-12 * np.abs(ll[active]))
            if not worse.any():
                break
            new = np.where(worse, (beta[active] + new) / 2, new)
            sub = np.flatnonzero(worse)
            part = _efron(starts, e, z[active[sub]], w[active[sub]], new[sub])
            for arr, val in zip(res, part, strict=True):
                arr[sub] = val
        beta[active] = new
        ll[active], u[active], info[active] = res
        far = np.abs(new) > BETA_MAX
        diverged[active[far]] = True
        active = active[~far]
    diverged |= ~converged
    return {"beta": beta, "ll": ll, "ll0": ll0, "info": info, "converged": converged,
            "diverged": diverged, "n_iter": n_iter}


@numba.njit(cache=True, nogil=True)
def _harrell_counts(t: np.ndarray, e: np.ndarray, x: np.ndarray, w: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concordant, tied-prediction and comparable pair counts per column (risk = x).

    ``t`` sorted ascending; ``w`` 1 where the feature is observed. Samples are visited from the
    longest time down; a Fenwick tree over the ranks of x holds the samples already visited
    (strictly later times); censored samples at a time enter before the events at that time
    are queried, events after.
    """
    n, p = x.shape
    conc = np.zeros(p)
    ties = np.zeros(p)
    pairs = np.zeros(p)
    for j in range(p):
        idx = np.flatnonzero(w[:, j] > 0)
        m = idx.size
        if m == 0:
            continue
        xv = x[idx, j]
        order = np.argsort(xv, kind="mergesort")
        rank = np.empty(m, np.int64)            # dense rank 1..R of x
        r = 0
        for q in range(m):
            if q == 0 or xv[order[q]] != xv[order[q - 1]]:
                r += 1
            rank[order[q]] = r
        tree = np.zeros(r + 1)
        total = 0.0
        hi = m - 1
        while hi >= 0:
            lo = hi
            while lo > 0 and t[idx[lo - 1]] == t[idx[hi]]:
                lo -= 1
            for q in range(lo, hi + 1):          # censored at this time: comparable with its events
                if e[idx[q]] == 0:
                    k = rank[q]
                    while k <= r:
                        tree[k] += 1.0
                        k += k & (-k)
                    total += 1.0
            for q in range(lo, hi + 1):
                if e[idx[q]] != 0:
                    less = 0.0
                    k = rank[q] - 1
                    while k > 0:
                        less += tree[k]
                        k -= k & (-k)
                    leq = 0.0
                    k = rank[q]
                    while k > 0:
                        leq += tree[k]
                        k -= k & (-k)
                    conc[j] += less
                    ties[j] += leq - less
                    pairs[j] += total
            for q in range(lo, hi + 1):
                if e[idx[q]] != 0:
                    k = rank[q]
                    while k <= r:
                        tree[k] += 1.0
                        k += k & (-k)
                    total += 1.0
            hi = lo - 1
    return conc, ties, pairs


def harrell_c(time: pd.Series | np.ndarray, event: pd.Series | np.ndarray,
              X: pd.DataFrame) -> pd.Series:
    """Harrell's C of each column as a risk score (higher = shorter survival), NaN-aware."""
    X = _frame(X)
    t, e, x = _survival_arrays(time, event, X)
    w = (~np.isnan(x)).astype(float)
    conc, ties, pairs = _harrell_counts(t, e, np.ascontiguousarray(np.where(w > 0, x, 0.0)),
                                        np.ascontiguousarray(w))
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (conc + 0.5 * ties) / pairs
    return pd.Series(c, index=X.columns, name="c_index")


def cox_efron(time: pd.Series | np.ndarray, event: pd.Series | np.ndarray, X: pd.DataFrame, *,
              min_events: int = 10, per_sd: bool = True) -> pd.DataFrame:
    """Univariate Efron Cox model of every feature per SD (see the module docstring).

    ``per_sd=False`` fits the features as given (already on the wanted scale, e.g. a cohort's
    z-score fitted on a subset of its patients).

    Returns one row per column of ``X`` (same order) with ``COX_COLUMNS``: complete cases
    ``n`` and ``events``, ``log_hr`` and ``se_log_hr`` per SD, ``hr`` with its 95% Wald CI,
    ``p_wald``, ``p_lr``, Harrell's ``c_index``, the Newton steps ``n_iter``, ``status``
    ("ok" | "not tested") and ``note``. Features not tested have NaN statistics.
    """
    X = _frame(X)
    t, e, x = _survival_arrays(time, event, X)
    obs = ~np.isnan(x)
    w = obs.astype(float)
    n = obs.sum(axis=0)
    events = (w * e[:, None]).sum(axis=0).astype(int)
    z, _, sd = standardise(pd.DataFrame(x))
    zv = np.nan_to_num(z.to_numpy() if per_sd else x, nan=0.0)
    sd = sd.to_numpy()
    out = pd.DataFrame({c: np.nan for c in COX_COLUMNS}, index=X.columns)
    out["n"], out["events"] = n, events
    out["status"], out["note"] = "not tested", ""
    few = events < min_events
    const = ~few & ~(np.isfinite(sd) & (sd > 0))
    out.loc[few, "note"] = [f"{k} events (< min_events = {min_events})" if k else
                            "no events: every patient is censored" for k in events[few]]
    out.loc[const, "note"] = "score is constant across patients"
    fit_cols = np.flatnonzero(~few & ~const)
    if fit_cols.size == 0 or len(t) == 0:
        return out
    starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1], True])   # tie groups, then n
    zc = np.ascontiguousarray(zv[:, fit_cols].T)     # features x samples
    wc = np.ascontiguousarray(w[:, fit_cols].T)
    fit = _newton(starts, e, zc, wc)
    beta, info = fit["beta"], fit["info"]
    ok = ~fit["diverged"] & (info > 0) & np.isfinite(fit["ll"])
    with np.errstate(divide="ignore", invalid="ignore"):
        se = 1 / np.sqrt(info)
        lr = np.maximum(2 * (fit["ll"] - fit["ll0"]), 0.0)
    cols = fit_cols[ok]
    b, s = beta[ok], se[ok]
    conc, ties, pairs = _harrell_counts(t, e, np.ascontiguousarray(zc[ok].T),
                                        np.ascontiguousarray(wc[ok].T))
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (conc + 0.5 * ties) / pairs
    c = np.where(b < 0, 1 - c, c)   # C of the linear predictor beta z
    vals = {"log_hr": b, "se_log_hr": s, "hr": np.exp(b), "ci_low": np.exp(b - Z975 * s),
            "ci_high": np.exp(b + Z975 * s), "p_wald": 2 * norm.sf(np.abs(b / s)),
            "p_lr": chi2.sf(lr[ok], 1), "c_index": c}
    idx = out.index[cols]
    for k, v in vals.items():
        out.loc[idx, k] = v
    out.loc[out.index[fit_cols], "n_iter"] = fit["n_iter"]
    out.loc[idx, "status"] = "ok"
    bad = fit_cols[~ok]
    out.loc[out.index[bad], "note"] = [
        f"monotone likelihood: the Cox estimate diverges (log HR per SD {beta[k]:+.3g} after "
        f"{fit['n_iter'][k]} Newton steps; the score separates events from censored patients?)"
        for k in np.flatnonzero(~ok)]
    out["n"] = out["n"].astype(int)
    out["events"] = out["events"].astype(int)
    return out


def logrank_median_split(time: pd.Series | np.ndarray, event: pd.Series | np.ndarray,
                         X: pd.DataFrame, *, min_group: int = 10) -> pd.DataFrame:
    """Log-rank p and KM medians above vs at-or-below each feature's median (module docstring).

    ``km_note`` says why a feature was not tested (a group under ``min_group`` patients).
    """
    X = _frame(X)
    t, e, x = _survival_arrays(time, event, X)
    obs = ~np.isnan(x)
    with np.errstate(invalid="ignore"):
        med = np.nanmedian(np.where(obs, x, np.nan), axis=0) if len(x) else \
            np.full(x.shape[1], np.nan)
        high = obs & (x > med)
    low = obs & ~high
    out = pd.DataFrame({"km_logrank_p": np.nan, "km_median_high": np.nan,
                        "km_median_low": np.nan, "km_note": ""}, index=X.columns)
    small = np.minimum(high.sum(0), low.sum(0)) < min_group
    out.loc[small, "km_note"] = (f"KM median split not tested: fewer than {min_group} patients "
                                 "per group")
    if len(t) == 0 or small.all() or not (e != 0).any():
        return out
    rs = _RiskSets(t, e)
    hi, lo = high.T.astype(float), low.T.astype(float)
    n_h, n_l = rs.at_risk(hi), rs.at_risk(lo)
    d_h, d_l = rs.in_events(hi), rs.in_events(lo)
    n_k, d_k = n_h + n_l, d_h + d_l
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(n_k > 0, n_h / n_k, 0.0)
        expect = (d_k * frac).sum(1)
        var = np.where(n_k > 1, d_k * frac * (1 - frac) * (n_k - d_k) / (n_k - 1), 0.0).sum(1)
        stat = (d_h.sum(1) - expect) ** 2 / var
        pval = chi2.sf(stat, 1)
    tested = ~small
    out.loc[tested, "km_logrank_p"] = pval[tested]
    for key, n_g, d_g in (("km_median_high", n_h, d_h), ("km_median_low", n_l, d_l)):
        with np.errstate(invalid="ignore", divide="ignore"):
            # lifelines' KM: exp(cumsum(log(n - d) - log(n))); 0 where the group is empty
            terms = np.where(n_g > 0, np.log(n_g - d_g) - np.log(n_g), 0.0)
        surv = np.exp(np.cumsum(terms, axis=1))
        below = surv <= 0.5
        first = np.argmax(below, axis=1)
        reached = below.any(axis=1)
        med_t = np.where(reached, rs.times[first] if len(rs.times) else np.nan, np.nan)
        out.loc[tested, key] = med_t[tested]
    return out


def _ranks(x: np.ndarray) -> np.ndarray:
    """Mid-ranks of each column among its non-missing values (NaN stays NaN)."""
    from scipy.stats import rankdata

    if x.shape[0] == 0:
        return x.copy()
    return rankdata(x, axis=0, nan_policy="omit")


def auc_delong(y: pd.Series | np.ndarray, X: pd.DataFrame, *, min_per_class: int = 5
               ) -> pd.DataFrame:
    """AUC of every column for y = 1 vs 0, DeLong SE and CI, Mann-Whitney p (module docstring).

    Samples with a missing ``y`` are dropped; each feature then uses its non-missing values.
    The 95% CI is AUC +- 1.96 SE clipped to [0, 1] (as pROC). A feature with fewer than
    ``min_per_class`` samples in a class, or no variance, is "not tested".
    """
    from scipy.stats import mannwhitneyu

    X = _frame(X)
    yv = np.asarray(y, dtype=float)
    keep = np.isfinite(yv)
    yv, x = yv[keep], X.to_numpy(dtype=float)[keep]
    obs = ~np.isnan(x)
    pos, neg = obs & (yv[:, None] == 1), obs & (yv[:, None] == 0)
    n1, n0 = pos.sum(0), neg.sum(0)
    out = pd.DataFrame({c: np.nan for c in AUC_COLUMNS}, index=X.columns)
    out["n"], out["n_pos"], out["n_neg"] = n1 + n0, n1, n0
    out["status"], out["note"] = "not tested", ""
    few = np.minimum(n1, n0) < min_per_class
    out.loc[few, "note"] = [f"{a} responders / {b} non-responders (< min_per_class = "
                            f"{min_per_class} in a class)" for a, b in zip(n1[few], n0[few],
                                                                            strict=True)]
    xs = np.where(pos | neg, x, np.nan)
    with np.errstate(invalid="ignore"):
        rng = np.nanmax(xs, axis=0) - np.nanmin(xs, axis=0) if len(xs) else np.zeros(len(n1))
    const = ~few & ~(rng > 0)
    out.loc[const, "note"] = "score is constant across patients"
    cols = np.flatnonzero(~few & ~const)
    if cols.size == 0:
        for c in ("n", "n_pos", "n_neg"):
            out[c] = out[c].astype(int)
        return out
    xc, pc, nc = xs[:, cols], pos[:, cols], neg[:, cols]
    m1, m0 = n1[cols].astype(float), n0[cols].astype(float)
    r_all = _ranks(xc)
    r_pos = _ranks(np.where(pc, xc, np.nan))
    r_neg = _ranks(np.where(nc, xc, np.nan))
    v10 = np.where(pc, (r_all - r_pos) / m0, np.nan)         # placements of the positives
    v01 = np.where(nc, 1.0 - (r_all - r_neg) / m1, np.nan)   # ... and of the negatives
    auc = np.nanmean(v10, axis=0)
    var = np.nanvar(v10, axis=0, ddof=1) / m1 + np.nanvar(v01, axis=0, ddof=1) / m0
    se = np.sqrt(var)
    # Mann-Whitney U of the positives, tie term from the mid-ranks:
    # sum r^2 = n(n+1)(2n+1)/6 - sum(t^3 - t)/12
    nn = m1 + m0
    u1 = np.nansum(np.where(pc, r_all, np.nan), axis=0) - m1 * (m1 + 1) / 2
    tie = 12 * (nn * (nn + 1) * (2 * nn + 1) / 6 - np.nansum(r_all ** 2, axis=0))
    tie = np.maximum(np.round(tie), 0.0)
    big_u = np.maximum(u1, m1 * m0 - u1)
    s = np.sqrt(m1 * m0 / 12 * ((nn + 1) - tie / (nn * (nn - 1))))
    with np.errstate(divide="ignore", invalid="ignore"):
        zstat = (big_u - m1 * m0 / 2 - 0.5) / s
    p_mwu = np.minimum(2 * norm.sf(zstat), 1.0)
    exact = ((m1 <= 8) | (m0 <= 8)) & (tie == 0)
    for k in np.flatnonzero(exact):   # scipy's exact null distribution (small, untied)
        col = xc[:, k]
        p_mwu[k] = mannwhitneyu(col[pc[:, k]], col[nc[:, k]], alternative="two-sided").pvalue
    idx = out.index[cols]
    for key, v in (("auc", auc), ("se", se), ("ci_low", np.maximum(0.0, auc - Z975 * se)),
                   ("ci_high", np.minimum(1.0, auc + Z975 * se)), ("p_mwu", p_mwu)):
        out.loc[idx, key] = v
    out.loc[idx, "status"] = "ok"
    for c in ("n", "n_pos", "n_neg"):
        out[c] = out[c].astype(int)
    return out


@numba.njit(cache=True, nogil=True)
def _td_auc_kernel(x: np.ndarray, idx: np.ndarray, t: np.ndarray, e: np.ndarray,
                   w: np.ndarray, horizons: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Cumulative/dynamic AUC (horizons x features) of one resample ``idx`` of the rows.

    Cases: an event at or before the horizon (weight ``w``, the IPCW of that resample);
    controls: still event-free after it. AUC = sum_cases w_i (#controls below x_i + 1/2 #tied)
    / (sum_cases w_i * #controls), the trapezoid area of scikit-survival's weighted ROC.
    """
    n = idx.size
    n_h = horizons.size
    p = x.shape[1]
    out = np.full((n_h, p), np.nan)
    ctrl = np.empty(n)
    for h in range(n_h):
        if not valid[h]:
            continue
        hz = horizons[h]
        for j in range(p):
            m = 0
            for q in range(n):
                v = x[idx[q], j]
                if t[q] > hz and not np.isnan(v):
                    ctrl[m] = v
                    m += 1
            if m == 0:
                continue
            c = np.sort(ctrl[:m])
            num = 0.0
            wsum = 0.0
            for q in range(n):
                v = x[idx[q], j]
                if e[q] != 0 and t[q] <= hz and not np.isnan(v):
                    lo = np.searchsorted(c, v, side="left")
                    hi = np.searchsorted(c, v, side="right")
                    num += w[q] * (lo + 0.5 * (hi - lo))
                    wsum += w[q]
            if wsum > 0:
                out[h, j] = num / (wsum * m)
    return out


def _ipcw(t: np.ndarray, e: np.ndarray) -> np.ndarray | None:
    """Inverse probability of censoring weights 1 / G(t_i) of the events (0 for censored).

    G is the Kaplan-Meier estimate of the censoring distribution (censorings as events, a
    censoring at an event time counted after it), evaluated at each event's own time: the
    arithmetic of scikit-survival's ``CensoringDistributionEstimator.predict_ipcw``. None where
    undefined (no event, or G = 0 at an event time; scikit-survival raises there).
    """
    ev = e != 0
    if not ev.any():
        return None
    w = np.zeros(len(t))
    if ev.all():
        w[:] = 1.0
        return w
    uniq, inv = np.unique(t, return_inverse=True)
    cnt = np.bincount(inv)
    n_ev = np.bincount(inv, weights=ev.astype(float))
    at_risk = len(t) - np.r_[0, np.cumsum(cnt)[:-1]] - n_ev
    n_cens = cnt - n_ev
    ratio = np.divide(n_cens, at_risk, out=np.zeros(len(uniq)), where=n_cens != 0)
    g = np.cumprod(1.0 - ratio)[inv[ev]]
    if (g == 0.0).any():
        return None
    w[ev] = 1.0 / g
    return w


def td_auc_bootstrap(time: pd.Series | np.ndarray, event: pd.Series | np.ndarray,
                     X: pd.DataFrame, horizons: list[float] | np.ndarray,
                     boot: np.ndarray | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Cumulative/dynamic AUC of every column at ``horizons``, on the data and on resamples.

    Rows of ``time``/``event``/``X`` with a missing time or event must already be dropped
    (``boot`` indexes them). ``boot`` is a (resamples x n) index matrix shared by every
    feature (draw it once per cohort). A horizon is estimable in a resample when it lies in
    [min time, max time) of that resample (scikit-survival's rule), per horizon: one horizon
    beyond a resample's follow-up does not drop the others. A missing score leaves that
    sample out for that feature. Returns (point estimates horizons x features as a frame,
    resampled AUCs (resamples x horizons x features, NaN where not estimable)).
    """
    X = _frame(X)
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float)
    x = np.ascontiguousarray(X.to_numpy(dtype=float))
    hz = np.asarray(horizons, dtype=float)
    n = len(t)
    idx_all = np.arange(n)[None, :] if boot is None else np.vstack([np.arange(n)[None, :],
                                                                   np.asarray(boot)])
    res = np.full((len(idx_all), len(hz), x.shape[1]), np.nan)
    for b, idx in enumerate(idx_all):
        tb, eb = t[idx], e[idx]
        w = _ipcw(tb, eb) if n else None
        if w is None:
            continue
        valid = (hz >= tb.min()) & (hz < tb.max())
        res[b] = _td_auc_kernel(x, idx.astype(np.int64), tb, eb, w, hz, valid)
    point = pd.DataFrame(res[0], index=pd.Index(hz, name="horizon"), columns=X.columns)
    return point, res[1:]

