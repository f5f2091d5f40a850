"""Wilcoxon signed-rank and Mann-Whitney tests with Hodges-Lehmann estimates, for many features
at once, equal to R's ``wilcox.test(x, y, conf.int = TRUE)`` (R 4.2 ``stats``, two-sided,
``mu = 0``, ``correct = TRUE``, ``exact = NULL``, ``tol.root = 1e-4``).

Inputs are features x observations matrices, NaN = absent (each feature has its own n).
Every step is one numpy call over all features (the exact branch: one per distinct n).

**Signed rank** (paired; :func:`signed_rank_many`). d = x - y over complete pairs; zero
differences are dropped (R). V = sum of the ranks of |d| over d > 0 (average ranks for ties).

* Exact (R's rule: n < 50, no ties, no zeros): p = min(1, 2 P(V' <= min(V, N - V))),
  N = n(n + 1)/2, from the exact null distribution (counts of subsets of 1..n by sum: exact
  integers in float64 for n < 50); the Hodges-Lehmann estimate is the median of the N Walsh
  averages (d_i + d_j)/2, i <= j, and the CI their order statistics k and N + 1 - k with
  k = R's ``qsignrank(alpha/2, n)`` (1 if 0) (Hollander & Wolfe 1999, *Nonparametric
  Statistical Methods*, 3.2-3.3; Bauer 1972, JASA 67:687).
* Normal approximation otherwise: z = (V - n(n + 1)/4 - sign(.)/2) / sigma,
  sigma² = n(n + 1)(2n + 1)/24 - sum(t³ - t)/48 over tie groups t; p = 2 P(Z > |z|). The CI
  end points and the estimate are the shifts s at which the statistic of d - s (zeros of
  d - s dropped, ranks and ties recomputed at each s) equals the normal quantiles (with the
  continuity correction) or zero (without it), found by R's ``uniroot``.

**Rank sum** (unpaired; :func:`rank_sum_many`). W = sum of the ranks of x in c(x, y) -
m(m + 1)/2. Exact (m < 50 and n < 50, no ties): p from the exact null distribution
(generating function prod_i (1 - q^(n+i)) / (1 - q^i)), HL shift = median of the m n
differences x_i - y_j, CI at R's ``qwilcox``; otherwise z = (W - mn/2 - sign(.)/2) / sigma,
sigma² = mn/12 ((m + n + 1) - sum(t³ - t)/((m + n)(m + n - 1))), and the CI and estimate as
roots in the shift (Hollander & Wolfe 1999, 4.1-4.3).

**The roots.** :func:`zeroin` is R's ``R_zeroin2`` (Brent 1973; src/appl/zeroin.c) line for
line, in lockstep over all (feature, root) problems: each follows R's iterates and stops where
R stops (IEEE double element by element; rank sums are exact; the normal quantiles are R's
``qnorm``, :mod:`ferroscope.rmath`), so the roots equal R's to the printed digits, not merely
within ``tol.root`` (R's root is ~1e-4 from the true one).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats as sps

from .rmath import qnorm, qnorm_many

CONF_LEVEL = 0.95
TOL_ROOT = 1e-4          # R's wilcox.test default tol.root
EPS = np.finfo(float).eps
ALL_TIED = "cannot compute confidence interval when all observations are tied"
NO_ROOT = "f() values at end points not of opposite sign"


@dataclass(frozen=True)
class RankTest:
    """One test: Hodges-Lehmann estimate (x - y) with its CI, the p-value and R's statistic."""

    test: str                 # "signed_rank" or "rank_sum"
    estimate: float
    ci_low: float
    ci_high: float
    p: float
    statistic: float          # R's V (signed rank) or W (rank sum)
    n: int                    # pairs used (signed rank, zeros included) or samples
    exact: bool
    n_zero: int = 0           # zero differences (signed rank; dropped, as R does)


@dataclass(frozen=True)
class RankTests:
    """Many tests, one entry per feature; ``error`` is R's error message ("" = tested)."""

    test: str
    estimate: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p: np.ndarray
    statistic: np.ndarray
    n: np.ndarray
    exact: np.ndarray
    n_zero: np.ndarray
    error: np.ndarray

    def __getitem__(self, i: int) -> RankTest:
        if self.error[i]:
            raise ValueError(str(self.error[i]))
        return RankTest(self.test, float(self.estimate[i]), float(self.ci_low[i]),
                        float(self.ci_high[i]), float(self.p[i]), float(self.statistic[i]),
                        int(self.n[i]), bool(self.exact[i]), int(self.n_zero[i]))


# --------------------------------------------------------------------------------------------
# R's uniroot (src/appl/zeroin.c, R_zeroin2), line for line, over many problems at once

def zeroin(f: Callable[[np.ndarray, np.ndarray], np.ndarray], ax: np.ndarray, bx: np.ndarray,
           fa: np.ndarray, fb: np.ndarray, tol: float = TOL_ROOT,
           maxit: int = 1000) -> np.ndarray:
    """Brent's root of every problem i in [ax_i, bx_i] as R's ``uniroot`` runs it; ``f(idx,
    b)`` evaluates the unfinished problems ``idx`` at ``b``."""
    a, b, fa, fb = (np.array(v, float) for v in (ax, bx, fa, fb))
    c, fc = a.copy(), fa.copy()
    out = np.where(fa == 0, a, b)
    live = np.flatnonzero((fa != 0) & (fb != 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(maxit + 1):
            if not live.size:
                break
            A, B, C, FA, FB, FC = a[live], b[live], c[live], fa[live], fb[live], fc[live]
            prev_step = B - A
            sw = np.abs(FC) < np.abs(FB)
            A, B, C = np.where(sw, B, A), np.where(sw, C, B), np.where(sw, B, C)
            FA, FB, FC = np.where(sw, FB, FA), np.where(sw, FC, FB), np.where(sw, FB, FC)
            tol_act = 2 * EPS * np.abs(B) + tol / 2
            new_step = (C - B) / 2
            done = (np.abs(new_step) <= tol_act) | (FB == 0)
            out[live[done]] = B[done]
            go = ~done
            live = live[go]
            A, B, C, FA, FB, FC = A[go], B[go], C[go], FA[go], FB[go], FC[go]
            prev_step, tol_act, new_step = prev_step[go], tol_act[go], new_step[go]
            cb = C - B
            t1 = FB / FA                              # secant (a == c)
            p_sec, q_sec = cb * t1, 1.0 - t1
            q = FA / FC                               # inverse quadratic
            t1, t2 = FB / FC, FB / FA
            p_iq = t2 * (cb * q * (q - t1) - (B - A) * (t1 - 1.0))
            q_iq = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            p, q = np.where(A == C, p_sec, p_iq), np.where(A == C, q_sec, q_iq)
            p, q = np.where(p > 0, p, -p), np.where(p > 0, -q, q)
            take = ((np.abs(prev_step) >= tol_act) & (np.abs(FA) > np.abs(FB))
                    & (p < (0.75 * cb * q - np.abs(tol_act * q) / 2))
                    & (p < np.abs(prev_step * q / 2)))
            new_step = np.where(take, p / q, new_step)
            small = np.abs(new_step) < tol_act
            new_step = np.where(small, np.where(new_step > 0, tol_act, -tol_act), new_step)
            A, FA = B, FB
            B = B + new_step
            FB = f(live, B)
            flip = ((FB > 0) & (FC > 0)) | ((FB < 0) & (FC < 0))
            C, FC = np.where(flip, A, C), np.where(flip, FA, FC)
            a[live], b[live], c[live], fa[live], fb[live], fc[live] = A, B, C, FA, FB, FC
    out[live] = b[live]
    return out


# --------------------------------------------------------------------------------------------
# rank statistics of many rows (NaN = absent) in one sort

def _midranks(keys: np.ndarray, lo: np.ndarray | int, hi: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Average ranks (1 at position ``lo``) of each row's sorted ``keys`` over positions
    lo..hi-1 (the values; others are dropped or padding) and the tie term sum(t³ - t) of R's
    ``table(rank(.))``; rows without ties take the fast path."""
    k, m = keys.shape
    pos = np.arange(m)
    lo = np.broadcast_to(np.asarray(lo)[..., None], (k, 1))
    ranks = pos + 1.0 - lo
    tie = np.zeros(k)
    dup = keys[:, 1:] == keys[:, :-1]
    rows = np.flatnonzero(dup.any(axis=1))
    rows = rows[(dup[rows] & (pos[1:] > lo[rows]) & (pos[1:] < hi[rows, None])).any(axis=1)]
    if rows.size:
        new = np.ones((len(rows), m), bool)
        new[:, 1:] = ~dup[rows]
        last = np.ones_like(new)
        last[:, :-1] = new[:, 1:]
        start = np.maximum.accumulate(np.where(new, pos, 0), axis=1)
        end = np.minimum.accumulate(np.where(last, pos, m)[:, ::-1], axis=1)[:, ::-1]
        t = (end - start + 1).astype(float)
        inside = (pos >= lo[rows]) & (pos < hi[rows, None])
        tie[rows] = np.sum(np.where(last & inside, t**3 - t, 0.0), axis=1)
        ranks[rows] = (start + end) / 2 + 1 - lo[rows]
    return ranks, tie


def _signed_parts(d: np.ndarray, shift: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, ...]:
    """V, n and tie term of the signed-rank statistic of d - shift (rows: the first n of each
    row are the values, NaN after; zeros of d - shift dropped)."""
    x = d - shift[:, None]
    # |x| as its IEEE bit pattern (order-preserving for |x| >= 0; NaN after every number),
    # shifted one bit left to carry x > 0: one sort of integers orders |x| with the signs
    key = np.abs(x).view(np.uint64) << np.uint64(1)
    key |= x > 0
    zeros = (x == 0).sum(axis=1)
    key.sort(axis=1)
    ranks, tie = _midranks(key >> np.uint64(1), zeros, n)
    return np.sum(ranks * (key & np.uint64(1)), axis=1), n - zeros, tie


def _z(zd: np.ndarray, var: np.ndarray, correct: np.ndarray | bool) -> np.ndarray:
    """(zd - sign(zd)/2 if correct) / sqrt(var): +-inf or NaN where var is 0, as in R."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (zd - np.where(correct, np.sign(zd) * 0.5, 0.0)) / np.sqrt(var)


def _signed_z(d: np.ndarray, shift: np.ndarray, correct: np.ndarray,
              n: np.ndarray) -> np.ndarray:
    v, nx, tie = _signed_parts(d, shift, n)
    return _z(v - nx * (nx + 1) / 4, nx * (nx + 1) * (2 * nx + 1) / 24 - tie / 48, correct)


def _sum_parts(x: np.ndarray, y: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, ...]:
    """W (sum of the ranks of x - shift in c(x - shift, y)) and the tie term, per row."""
    z = np.concatenate([x - shift[:, None], y], axis=1) + 0.0   # -0 == 0, as R ranks
    order = np.argsort(z, axis=1, kind="stable")                  # NaN last
    n = (~np.isnan(z)).sum(axis=1)
    ranks, tie = _midranks(np.take_along_axis(z, order, axis=1), 0, n)
    from_x = (order < x.shape[1]) & (np.arange(z.shape[1]) < n[:, None])
    return np.sum(np.where(from_x, ranks, 0.0), axis=1), tie


def _sum_z(x: np.ndarray, y: np.ndarray, shift: np.ndarray, correct: np.ndarray,
           nx: np.ndarray, ny: np.ndarray) -> np.ndarray:
    w, tie = _sum_parts(x, y, shift)
    return _z(w - nx * (nx + 1) / 2 - nx * ny / 2,
              (nx * ny / 12) * ((nx + ny + 1) - tie / ((nx + ny) * (nx + ny - 1))), correct)


# --------------------------------------------------------------------------------------------
# exact null distributions (R's csignrank / cwilcox by counting)

@lru_cache(maxsize=256)
def _signrank_cdf(n: int) -> np.ndarray:
    """P(V <= v), v = 0..n(n+1)/2, for the signed-rank statistic of n untied ranks."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for k in range(1, n + 1):
        counts[k:] = counts[k:] + counts[:-k].copy()
    return np.cumsum(counts * 2.0 ** -n)


@lru_cache(maxsize=256)
def _ranksum_cdf(m: int, n: int) -> np.ndarray:
    """P(W <= w), w = 0..mn, for the Mann-Whitney statistic of m and n untied values."""
    poly = np.zeros(m * n + 1)
    poly[0] = 1.0
    for i in range(1, m + 1):
        shifted = np.zeros_like(poly)                  # times (1 - q^(n+i))
        if n + i <= m * n:
            shifted[n + i:] = poly[:-(n + i)]
        poly = poly - shifted
        for j in range(i, m * n + 1):                  # divided by (1 - q^i)
            poly[j] += poly[j - i]
    return np.cumsum(poly / math.comb(m + n, m))


def _quantile(cdf: np.ndarray, p: float) -> int:
    """R's qsignrank / qwilcox for p <= 0.5: smallest q with P(<= q) >= p (fuzz 10 eps)."""
    return int(np.searchsorted(cdf, p - 10 * EPS, side="left"))


def _exact(values: np.ndarray, stat: np.ndarray, cdf: np.ndarray, alpha: float
           ) -> tuple[np.ndarray, ...]:
    """p, median and CI from sorted ``values`` (Walsh averages or differences) per row."""
    top = len(cdf) - 1
    p = np.minimum(1.0, 2 * cdf[np.minimum(stat, top - stat).astype(int)])
    qu = _quantile(cdf, alpha / 2) or 1
    values.sort(axis=1)
    return p, np.median(values, axis=1), values[:, qu - 1], values[:, top - qu]


def signed_rank_many(x: np.ndarray, y: np.ndarray,
                     conf_level: float = CONF_LEVEL) -> RankTests:
    """R's ``wilcox.test(x[i], y[i], paired = TRUE, conf.int = TRUE)`` for every row i."""
    x, y = np.atleast_2d(np.asarray(x, float)), np.atleast_2d(np.asarray(y, float))
    d = x - y
    n_all = (~np.isnan(d)).sum(axis=1)
    n_zero = (d == 0).sum(axis=1)
    d[d == 0] = np.nan
    d.sort(axis=1)                                    # NaN (absent, zero) last
    nf = len(d)
    v, n, tie = _signed_parts(d, np.zeros(nf), (~np.isnan(d)).sum(axis=1))
    alpha = 1 - conf_level
    est, lo_ci, hi_ci, p = (np.full(nf, np.nan) for _ in range(4))
    error = np.where(n == 0, "all differences are zero", "").astype(object)
    exact = (n > 0) & (n < 50) & (tie == 0) & (n_zero == 0)
    for k in np.unique(n[exact]):                     # one call per distinct n < 50
        rows = np.flatnonzero(exact & (n == k))
        dk = d[rows, :k]
        i, j = np.triu_indices(k)
        p[rows], est[rows], lo_ci[rows], hi_ci[rows] = _exact(
            (dk[:, i] + dk[:, j]) / 2, v[rows], _signrank_cdf(k), alpha)
    rows = np.flatnonzero(~exact & (n > 0))
    if rows.size:
        dn, nn = d[rows], n[rows]
        one, nil = np.ones(len(rows), bool), np.zeros(len(rows), bool)
        z = _z(v[rows] - nn * (nn + 1) / 4, nn * (nn + 1) * (2 * nn + 1) / 24 - tie[rows] / 48,
               True)
        p[rows] = np.minimum(1.0, 2 * sps.norm.sf(np.abs(z)))
        lo, hi = dn[:, 0], dn[np.arange(len(rows)), nn - 1]
        r = len(rows)
        w_lo, w_hi = _signed_z(dn, lo, one, nn), _signed_z(dn, hi, one, nn)
        a = np.full(r, alpha)
        with np.errstate(invalid="ignore"):
            for _ in range(64):   # R: double alpha until the sample limits bracket the CI
                more = (w_lo - qnorm_many(a / 2, False) < 0) | (w_hi - qnorm_many(a / 2) > 0)
                if not more.any():
                    break
                a[more] *= 2
        ok = np.isfinite(w_lo) & np.isfinite(w_hi)   # R 4.2: else no CI, the midrange
        ci = ok & (a < 1)
        zq_l, zq_u = qnorm_many(a / 2, False), qnorm_many(a / 2)
        f_lo, f_hi = _signed_z(dn, lo, nil, nn), _signed_z(dn, hi, nil, nn)
        roots, bad = _roots(lambda i, s, c: _signed_z(dn[i], s, c, nn[i]), lo, hi,
                            (w_lo - zq_l, w_lo - zq_u, f_lo), (w_hi - zq_l, w_hi - zq_u, f_hi),
                            (zq_l, zq_u, np.zeros(r)), (ci, ci, ok))
        mid = np.where(ok, np.nanmedian(dn, axis=1), np.nan)
        lo_ci[rows] = np.where(ci, roots[0], mid)
        hi_ci[rows] = np.where(ci, roots[1], mid)
        est[rows] = np.where(ok, roots[2], (lo + hi) / 2)
        error[rows[bad]] = NO_ROOT
    return RankTests("signed_rank", est, lo_ci, hi_ci, p, v, n_all, exact, n_zero, error)


def _roots(stat: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray], lo: np.ndarray,
           hi: np.ndarray, fa: tuple[np.ndarray, ...], fb: tuple[np.ndarray, ...],
           zq: tuple[np.ndarray, ...], todo: tuple[np.ndarray, ...]
           ) -> tuple[np.ndarray, np.ndarray]:
    """Roots of stat(row, s, correct) - zq in [lo, hi] for 3 problems per row (lower CI end,
    upper CI end with the continuity correction; the estimate without), rows ``todo[k]`` of
    problem k, in one lockstep :func:`zeroin`; and where R's ``uniroot`` stops because
    f(lo) f(hi) > 0."""
    r = len(lo)
    correct = np.r_[np.ones(2 * r, bool), np.zeros(r, bool)]
    fa, fb, zq, todo = (np.concatenate(v) for v in (fa, fb, zq, todo))
    bad = todo & (fa * fb > 0)
    idx = np.flatnonzero(todo & ~bad)
    row = np.tile(np.arange(r), 3)
    out = np.full(3 * r, np.nan)

    def f(i: np.ndarray, s: np.ndarray) -> np.ndarray:
        j = idx[i]
        return stat(row[j], s, correct[j]) - zq[j]

    out[idx] = zeroin(f, np.tile(lo, 3)[idx], np.tile(hi, 3)[idx], fa[idx], fb[idx])
    return out.reshape(3, r), bad.reshape(3, r).any(axis=0)


def rank_sum_many(x: np.ndarray, y: np.ndarray, conf_level: float = CONF_LEVEL) -> RankTests:
    """R's ``wilcox.test(x[i], y[i], conf.int = TRUE)`` for every row i: the Hodges-Lehmann
    shift of x over y."""
    x, y = np.atleast_2d(np.asarray(x, float)), np.atleast_2d(np.asarray(y, float))
    nx, ny = (~np.isnan(x)).sum(axis=1), (~np.isnan(y)).sum(axis=1)
    nf = len(x)
    r_all, tie = _sum_parts(x, y, np.zeros(nf))
    w = r_all - nx * (nx + 1) / 2
    alpha = 1 - conf_level
    est, lo_ci, hi_ci, p = (np.full(nf, np.nan) for _ in range(4))
    error = np.where((nx == 0) | (ny == 0), "not enough observations", "").astype(object)
    exact = (nx > 0) & (ny > 0) & (nx < 50) & (ny < 50) & (tie == 0)
    for m, k in {(int(a), int(b)) for a, b in zip(nx[exact], ny[exact], strict=True)}:
        rows = np.flatnonzero(exact & (nx == m) & (ny == k))
        # values sorted (NaN last) to drop the absent ones: the set of differences is kept
        diffs = np.sort(x[rows], axis=1)[:, :m, None] - np.sort(y[rows], axis=1)[:, None, :k]
        p[rows], est[rows], lo_ci[rows], hi_ci[rows] = _exact(
            diffs.reshape(len(rows), -1), w[rows], _ranksum_cdf(m, k), alpha)
    rows = np.flatnonzero(~exact & (nx > 0) & (ny > 0))
    if rows.size:
        xs, ys, mx, my = x[rows], y[rows], nx[rows], ny[rows]
        r = len(rows)
        z = _z(w[rows] - mx * my / 2,
               (mx * my / 12) * ((mx + my + 1) - tie[rows] / ((mx + my) * (mx + my - 1))), True)
        p[rows] = np.minimum(1.0, 2 * sps.norm.sf(np.abs(z)))
        lo = np.nanmin(xs, axis=1) - np.nanmax(ys, axis=1)
        hi = np.nanmax(xs, axis=1) - np.nanmin(ys, axis=1)

        def stat(i: np.ndarray, s: np.ndarray, c: np.ndarray) -> np.ndarray:
            return _sum_z(xs[i], ys[i], s, c, mx[i], my[i])

        all_, one, nil = np.arange(r), np.ones(r, bool), np.zeros(r, bool)
        w_lo, w_hi, f_lo, f_hi = (stat(all_, s, c) for s, c in ((lo, one), (hi, one),
                                                                (lo, nil), (hi, nil)))
        ok = np.isfinite(w_lo) & np.isfinite(w_hi)
        error[rows[~ok]] = ALL_TIED
        zq_l, zq_u = np.full(r, qnorm(alpha / 2, False)), np.full(r, qnorm(alpha / 2))
        # R: a bound whose sample limit already lies beyond the quantile is that limit
        at_lo = (w_lo - zq_l <= 0, w_lo - zq_u <= 0)
        at_hi = (~at_lo[0] & (w_hi - zq_l >= 0), ~at_lo[1] & (w_hi - zq_u >= 0))
        roots, bad = _roots(stat, lo, hi, (w_lo - zq_l, w_lo - zq_u, f_lo),
                            (w_hi - zq_l, w_hi - zq_u, f_hi), (zq_l, zq_u, np.zeros(r)),
                            (ok & ~at_lo[0] & ~at_hi[0], ok & ~at_lo[1] & ~at_hi[1], ok))
        lo_ci[rows] = np.where(at_lo[0], lo, np.where(at_hi[0], hi, roots[0]))
        hi_ci[rows] = np.where(at_lo[1], lo, np.where(at_hi[1], hi, roots[1]))
        est[rows] = roots[2]
        error[rows[bad]] = NO_ROOT
    return RankTests("rank_sum", est, lo_ci, hi_ci, p, w, nx + ny, exact,
                     np.zeros(nf, int), error)


def signed_rank(x: np.ndarray, y: np.ndarray, conf_level: float = CONF_LEVEL) -> RankTest:
    """One feature of :func:`signed_rank_many` (ValueError with R's message if untestable)."""
    return signed_rank_many(np.atleast_2d(x), np.atleast_2d(y), conf_level)[0]


def rank_sum(x: np.ndarray, y: np.ndarray, conf_level: float = CONF_LEVEL) -> RankTest:
    """One feature of :func:`rank_sum_many` (ValueError with R's message if untestable)."""
    return rank_sum_many(np.atleast_2d(x), np.atleast_2d(y), conf_level)[0]
