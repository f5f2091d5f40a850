"""Tumour versus adjacent non-tumour tissue: sample groups, rank tests equal to R, pooling.

**Samples.** A cohort may declare a comparison group (config ``samples.compare``, see
docs/tissue.md). Its assembled (or local) clinical table then carries, per sample, the
reserved columns :data:`GROUP` (``tumour`` / ``non_tumour``) and :data:`PAIR` (the patient
key that links a tumour to its adjacent non-tumour sample). :func:`tumour_only` removes the
comparison samples before the prepare step, so survival and response stay on tumours exactly as
without the declaration; :func:`comparison_samples` keeps both groups for the tissue step,
which scores them in one matrix (scores are relative to the samples scored together).

**Tests** (per gene set x scoring method, and per seed gene on expression): where at least
:data:`MIN_PAIRS` tumour/non-tumour pairs exist, the Wilcoxon signed-rank test on the paired
differences tumour - non-tumour (:func:`signed_rank`), with the Hodges-Lehmann estimate (the
median of the Walsh averages) and its confidence interval; otherwise the Mann-Whitney (Wilcoxon
rank-sum) test with the Hodges-Lehmann shift (median of all tumour - non-tumour differences)
(:func:`rank_sum`). Both equal R's ``wilcox.test(..., conf.int = TRUE)`` (R 4.2, stats):

* exact where R is exact: n < 50 (both groups < 50 for rank-sum) with no ties and no zero
  differences: exact p from the null distribution of the statistic, and the CI from order
  statistics of the Walsh averages (or differences) at R's ``qsignrank`` / ``qwilcox``;
* otherwise the normal approximation with continuity correction and tie correction for the p,
  and R's CI: the roots of the standardised statistic as a function of the shift, found with a
  port of R's ``uniroot`` (Brent's ``zeroin``, tolerance 1e-4) so that the end points equal
  R's to the last digit rather than within the tolerance.

The p-value comes from scipy (``wilcoxon``, ``mannwhitneyu``), with the method chosen by R's rule.

**Pooling across cohorts.** The Hodges-Lehmann shift is on each cohort's score scale (mean_z,
GSVA and ssGSEA scores are relative to the samples scored together; expression scales differ by
platform), so cohorts are pooled on a standardised mean difference in units of the within-group
SD: Hedges' g, for pairs computed from the paired differences (Borenstein et al. 2009,
*Introduction to Meta-Analysis*, eqs 4.18-4.28: S_within = S_diff / sqrt(2(1 - r)), variance
(1/n + d²/2n)·2(1 - r)), for unpaired groups from the pooled SD (eqs 4.18-4.24); both with the
small-sample factor J = 1 - 3/(4 df - 1). Random effects as elsewhere (``ferroscope.meta``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from .errors import FerroscopeError

#: reserved columns of an assembled clinical table declaring a comparison
GROUP, PAIR = "ferroscope_tissue", "ferroscope_pair"
TUMOUR, NON_TUMOUR = "tumour", "non_tumour"
ANALYSIS = "tumour_vs_nontumour"
#: the method name of the per-gene rows (expression, not a score)
EXPRESSION = "expression"
MIN_PAIRS = 5            # fewer complete pairs: the unpaired test on all samples
MIN_PER_GROUP = 3        # fewer samples in a group: not tested
CONF_LEVEL = 0.95
TOL_ROOT = 1e-4          # R's wilcox.test default tol.root
EPS = np.finfo(float).eps


# --------------------------------------------------------------------------------------------
# R's uniroot (src/appl/zeroin.c, R_zeroin2), ported line for line

def zeroin(f: Callable[[float], float], ax: float, bx: float, fa: float, fb: float,
           tol: float = TOL_ROOT, maxit: int = 1000) -> float:
    """Brent's root finder exactly as R's ``uniroot`` runs it (same iterates, same stop)."""
    a, b = ax, bx
    c, fc = a, fa
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    for _ in range(maxit + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * EPS * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


def _uniroot(f: Callable[[float], float], lower: float, upper: float,
             f_lower: float | None = None, f_upper: float | None = None) -> float:
    fl = f(lower) if f_lower is None else f_lower
    fu = f(upper) if f_upper is None else f_upper
    if fl * fu > 0:
        raise ValueError("f() values at end points not of opposite sign")
    return zeroin(f, lower, upper, fl, fu)


# --------------------------------------------------------------------------------------------
# exact null distributions (R's csignrank / cwilcox by counting)

@lru_cache(maxsize=256)
def _signrank_cdf(n: int) -> np.ndarray:
    """P(V <= v), v = 0..n(n+1)/2, for the signed-rank statistic of n untied ranks."""
    top = n * (n + 1) // 2
    counts = np.zeros(top + 1)
    counts[0] = 1.0
    for k in range(1, n + 1):
        counts[k:] = counts[k:] + counts[:-k].copy()
    return np.cumsum(counts * 2.0 ** -n)


@lru_cache(maxsize=256)
def _ranksum_cdf(m: int, n: int) -> np.ndarray:
    """P(W <= w), w = 0..mn, for the Mann-Whitney statistic of m and n untied values."""
    # generating function prod_{i=1..m} (1 - q^{n+i}) / (1 - q^i), by polynomial steps
    poly = np.zeros(m * n + 1)
    poly[0] = 1.0
    for i in range(1, m + 1):
        # multiply by (1 - q^{n+i})
        shifted = np.zeros_like(poly)
        shifted[n + i:] = poly[:-(n + i)] if n + i <= m * n else 0
        poly = poly - shifted
        # divide by (1 - q^i): running sum with stride i
        for j in range(i, m * n + 1):
            poly[j] += poly[j - i]
    return np.cumsum(poly / math.comb(m + n, m))


def _quantile(cdf: np.ndarray, p: float) -> int:
    """R's qsignrank / qwilcox for p <= 0.5: smallest q with P(<= q) >= p (fuzz 10 eps)."""
    return int(np.searchsorted(cdf, p - 10 * EPS, side="left"))


def _median(values: np.ndarray) -> float:
    return float(np.median(values))


# --------------------------------------------------------------------------------------------
# the two tests

@dataclass(frozen=True)
class RankTest:
    """One test: Hodges-Lehmann estimate (tumour - non-tumour) with its CI and the p-value."""

    test: str                 # "signed_rank" or "rank_sum"
    estimate: float
    ci_low: float
    ci_high: float
    p: float
    statistic: float          # R's V (signed rank) or W (rank sum)
    n: int                    # pairs used (signed rank, zeros included) or samples
    exact: bool
    n_zero: int = 0           # zero differences (signed rank; dropped, as R does)

    def as_dict(self) -> dict[str, Any]:
        return {"test": self.test, "estimate": self.estimate, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "p": self.p, "statistic": self.statistic,
                "n": self.n, "exact": self.exact, "n_zero": self.n_zero}


def _ranks_ties(values: np.ndarray) -> tuple[np.ndarray, float]:
    """Average ranks (R's ``rank``) and the tie term sum(t^3 - t) of ``table(rank(.))``.

    One sort; scipy's rankdata costs ~1 ms a call, and the CI roots call this ~60 times."""
    n = len(values)
    order = np.argsort(values, kind="mergesort")
    s = values[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    counts = np.diff(np.r_[starts, n])
    ranks = np.empty(n)
    ranks[order] = np.repeat(starts + (counts + 1) / 2.0, counts)
    c = counts.astype(float)
    return ranks, float(np.sum(c**3 - c))


def signed_rank(x: np.ndarray, y: np.ndarray, conf_level: float = CONF_LEVEL) -> RankTest:
    """R's ``wilcox.test(x, y, paired = TRUE, conf.int = TRUE)`` (two-sided, mu = 0,
    correct = TRUE, exact = NULL): the differences x - y of complete pairs."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    d_all = x[ok] - y[ok]
    zeros = d_all == 0
    d = d_all[~zeros]
    n = len(d)
    if n == 0:
        raise ValueError("all differences are zero")
    r, tie_term = _ranks_ties(np.abs(d))
    v = float(np.sum(r[d > 0]))
    ties = tie_term > 0
    alpha = 1 - conf_level
    if n < 50 and not ties and not zeros.any():
        p = float(sps.wilcoxon(d, zero_method="wilcox", correction=False, method="exact").pvalue)
        walsh = np.add.outer(d, d)[np.triu_indices(n)] / 2
        walsh.sort()
        cdf = _signrank_cdf(n)
        qu = _quantile(cdf, alpha / 2) or 1
        ql = n * (n + 1) // 2 - qu
        return RankTest("signed_rank", _median(walsh), float(walsh[qu - 1]),
                        float(walsh[ql]), p, v, len(d_all), True)
    p = float(sps.wilcoxon(d, zero_method="wilcox", correction=True, method="asymptotic")
              .pvalue)

    def w_stat(shift: float, correct: bool = True) -> float:
        xd = d - shift
        xd = xd[xd != 0]
        nx = len(xd)
        dr, tt = _ranks_ties(np.abs(xd))
        zd = float(np.sum(dr[xd > 0])) - nx * (nx + 1) / 4
        sigma = math.sqrt(nx * (nx + 1) * (2 * nx + 1) / 24 - tt / 48)
        corr = float(np.sign(zd)) * 0.5 if correct else 0.0
        return (zd - corr) / sigma

    lo, hi = float(d.min()), float(d.max())
    w_lo, w_hi = w_stat(lo), w_stat(hi)
    a = alpha
    while True:
        if w_lo - sps.norm.isf(a / 2) < 0 or w_hi - sps.norm.ppf(a / 2) > 0:
            a *= 2
        else:
            break
    if a < 1:
        zq_l, zq_u = float(sps.norm.isf(a / 2)), float(sps.norm.ppf(a / 2))
        ci_l = _uniroot(lambda s: w_stat(s) - zq_l, lo, hi, w_lo - zq_l, w_hi - zq_l)
        ci_u = _uniroot(lambda s: w_stat(s) - zq_u, lo, hi, w_lo - zq_u, w_hi - zq_u)
    else:
        ci_l = ci_u = _median(d)
    est = _uniroot(lambda s: w_stat(s, correct=False), lo, hi)
    return RankTest("signed_rank", est, ci_l, ci_u, p, v, len(d_all), False,
                    int(zeros.sum()))


def rank_sum(x: np.ndarray, y: np.ndarray, conf_level: float = CONF_LEVEL) -> RankTest:
    """R's ``wilcox.test(x, y, conf.int = TRUE)`` (two-sided, correct = TRUE, exact = NULL):
    the Hodges-Lehmann shift of x (tumour) over y (non-tumour)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    nx, ny = len(x), len(y)
    r, tie_term = _ranks_ties(np.concatenate([x, y]))
    w = float(np.sum(r[:nx]) - nx * (nx + 1) / 2)
    ties = tie_term > 0
    alpha = 1 - conf_level
    if nx < 50 and ny < 50 and not ties:
        p = float(sps.mannwhitneyu(x, y, alternative="two-sided", method="exact").pvalue)
        diffs = np.sort(np.subtract.outer(x, y).ravel())
        qu = _quantile(_ranksum_cdf(nx, ny), alpha / 2) or 1
        ql = nx * ny - qu
        return RankTest("rank_sum", _median(diffs), float(diffs[qu - 1]), float(diffs[ql]),
                        p, w, nx + ny, True)
    p = float(sps.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic",
                               use_continuity=True).pvalue)

    def w_stat(shift: float, correct: bool = True) -> float:
        dr, tt = _ranks_ties(np.concatenate([x - shift, y]))
        dz = float(np.sum(dr[:nx])) - nx * (nx + 1) / 2 - nx * ny / 2
        corr = float(np.sign(dz)) * 0.5 if correct else 0.0
        sigma = math.sqrt((nx * ny / 12) * ((nx + ny + 1) - tt / ((nx + ny) * (nx + ny - 1))))
        return (dz - corr) / sigma

    lo, hi = float(x.min() - y.max()), float(x.max() - y.min())
    w_lo, w_hi = w_stat(lo), w_stat(hi)

    def root(zq: float) -> float:
        if w_lo - zq <= 0:
            return lo
        if w_hi - zq >= 0:
            return hi
        return _uniroot(lambda s: w_stat(s) - zq, lo, hi, w_lo - zq, w_hi - zq)

    ci_l = root(float(sps.norm.isf(alpha / 2)))
    ci_u = root(float(sps.norm.ppf(alpha / 2)))
    est = _uniroot(lambda s: w_stat(s, correct=False), lo, hi)
    return RankTest("rank_sum", est, ci_l, ci_u, p, w, nx + ny, False)


# --------------------------------------------------------------------------------------------
# standardised mean difference (pooling)

def hedges_g(x: np.ndarray, y: np.ndarray, paired: bool) -> tuple[float, float]:
    """Hedges' g of x over y in units of the within-group SD, and its SE (Borenstein 2009).

    Paired: d = mean(x - y) / S_within, S_within = S_diff / sqrt(2 (1 - r)), V_d = (1/n +
    d²/(2n)) 2 (1 - r), df = n - 1. Unpaired: pooled SD, V_d = (n1 + n2)/(n1 n2) +
    d²/(2 (n1 + n2)), df = n1 + n2 - 2. g = J d, V_g = J² V_d, J = 1 - 3 / (4 df - 1).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if paired:
        ok = ~(np.isnan(x) | np.isnan(y))
        x, y = x[ok], y[ok]
        n = len(x)
        diff = x - y
        s_diff = float(np.std(diff, ddof=1))
        r = float(np.corrcoef(x, y)[0, 1]) if np.std(x) > 0 and np.std(y) > 0 else 0.0
        if s_diff == 0 or r >= 1:
            return float("nan"), float("nan")
        s_within = s_diff / math.sqrt(2 * (1 - r))
        d = float(np.mean(diff)) / s_within
        var = (1 / n + d * d / (2 * n)) * 2 * (1 - r)
        df = n - 1
    else:
        x, y = x[~np.isnan(x)], y[~np.isnan(y)]
        n1, n2 = len(x), len(y)
        sp = math.sqrt(((n1 - 1) * np.var(x, ddof=1) + (n2 - 1) * np.var(y, ddof=1))
                       / (n1 + n2 - 2))
        if sp == 0:
            return float("nan"), float("nan")
        d = float(np.mean(x) - np.mean(y)) / sp
        var = (n1 + n2) / (n1 * n2) + d * d / (2 * (n1 + n2))
        df = n1 + n2 - 2
    j = 1 - 3 / (4 * df - 1)
    return j * d, j * math.sqrt(var)


# --------------------------------------------------------------------------------------------
# one cohort: every feature (set score or gene) tumour vs non-tumour

def plain_groups(groups: pd.DataFrame) -> pd.DataFrame:
    """The group and pair columns as plain strings (h5ad obs stores them as categoricals)."""
    return pd.DataFrame({c: groups[c].astype(object).where(groups[c].notna(), "").astype(str)
                         for c in (GROUP, PAIR)}, index=groups.index)


def compare(values: pd.DataFrame, groups: pd.DataFrame, *, cohort: str, method: str,
            sets: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Test every column of ``values`` (samples x features) tumour vs non-tumour.

    ``groups``: index sample_id, columns :data:`GROUP` and :data:`PAIR` (empty = unpaired).
    Pairs: a patient with exactly one tumour and one non-tumour sample. With at least
    :data:`MIN_PAIRS` complete pairs the signed-rank test on them (n = pairs); else the
    rank-sum test on all samples (n = samples). ``sets`` maps a feature to the ``set`` column
    (genes: the sets they belong to); by default the feature is the set.
    """
    g = plain_groups(groups).reindex(values.index)
    tum = g.index[g[GROUP] == TUMOUR]
    non = g.index[g[GROUP] == NON_TUMOUR]
    pair_ids = g[PAIR].fillna("").astype(str)
    t_by = pd.Series(tum, index=pair_ids[tum].to_numpy())
    n_by = pd.Series(non, index=pair_ids[non].to_numpy())
    t_by = t_by[(t_by.index != "") & ~t_by.index.duplicated(keep=False)]
    n_by = n_by[(n_by.index != "") & ~n_by.index.duplicated(keep=False)]
    common = t_by.index.intersection(n_by.index).sort_values()
    # row positions once; the loop below works on numpy columns
    matrix = values.to_numpy(float)
    at = values.index.get_indexer
    t_pair, n_pair = at(t_by[common]), at(n_by[common])
    t_all, n_all = at(tum), at(non)
    rows = []
    for j, feature in enumerate(values.columns):
        col = matrix[:, j]
        base = {"cohort": cohort, "method": method,
                "set": (sets or {}).get(feature, feature), "endpoint": "tissue",
                "analysis": ANALYSIS}
        if method == EXPRESSION:
            base["gene"] = feature
        tx, nx = col[t_pair], col[n_pair]
        complete = ~(np.isnan(tx) | np.isnan(nx))
        try:
            if complete.sum() >= MIN_PAIRS:
                res = signed_rank(tx, nx)
                g_, se = hedges_g(tx, nx, paired=True)
                note = (f"paired Wilcoxon signed-rank on {int(complete.sum())} tumour/non-tumour "
                        f"pairs ({'exact' if res.exact else 'normal approximation'})"
                        + (f"; {res.n_zero} zero differences dropped" if res.n_zero else ""))
                extra = {"n_tumour": int(complete.sum()), "n_nontumour": int(complete.sum())}
            else:
                a = col[t_all][~np.isnan(col[t_all])]
                b = col[n_all][~np.isnan(col[n_all])]
                if min(len(a), len(b)) < MIN_PER_GROUP:
                    rows.append({**base, "status": "not tested", "n": len(a) + len(b),
                                 "note": f"{len(a)} tumour and {len(b)} non-tumour samples "
                                         f"(at least {MIN_PER_GROUP} each needed)"})
                    continue
                res = rank_sum(a, b)
                g_, se = hedges_g(a, b, paired=False)
                note = (f"Mann-Whitney (unpaired: {int(complete.sum())} pairs < {MIN_PAIRS}) on "
                        f"{len(a)} tumour and {len(b)} non-tumour samples "
                        f"({'exact' if res.exact else 'normal approximation'})")
                extra = {"n_tumour": len(a), "n_nontumour": len(b)}
        except ValueError as exc:  # all differences zero, or constant values
            rows.append({**base, "status": "not tested", "n": int(complete.sum()),
                         "note": f"not testable: {exc}"})
            continue
        rows.append({**base, "estimate": res.estimate, "ci_low": res.ci_low,
                     "ci_high": res.ci_high, "p": res.p, "status": "ok",
                     "n": res.n if res.test == "signed_rank" else res.n, "test": res.test,
                     "statistic": res.statistic, "exact": int(res.exact), "smd": g_,
                     "se_smd": se, "note": note, **extra})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# across cohorts: pooling and FDR (a family of its own: the survival/response q are unchanged)

def pool(table: pd.DataFrame, method: str = "reml_hksj") -> pd.DataFrame:
    """Random effects of Hedges' g over the cohorts of each method x set (x gene) tested in two
    or more, by ``ferroscope.meta.pool`` (``statistics.meta.method``: REML with the
    Hartung-Knapp-Sidik-Jonkman CI by default, or DerSimonian-Laird), with the prediction
    interval; the per-cohort HL shifts are not comparable and not pooled."""
    from . import meta

    if table.empty:
        return table
    ok = table[(table["status"] == "ok") & table["smd"].notna() & (table["se_smd"] > 0)]
    keys = ["method", "set"] + (["gene"] if "gene" in table else [])
    groups = [(key, grp) for key, grp in ok.groupby(keys, sort=False, dropna=False)
              if len(grp) >= 2]
    if not groups:
        return pd.DataFrame()
    width = max(len(g) for _, g in groups)
    y = np.full((len(groups), width), np.nan)
    se = np.full((len(groups), width), np.nan)
    for i, (_, grp) in enumerate(groups):
        y[i, :len(grp)] = grp["smd"].to_numpy(float)
        se[i, :len(grp)] = grp["se_smd"].to_numpy(float)
    res = meta.pool(y, se, method=method)
    from .statistics import FEW_COHORTS

    rows = []
    for i, (key, grp) in enumerate(groups):
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        k = len(grp)
        rows.append({**row, "cohort": "pooled", "endpoint": "tissue", "analysis": ANALYSIS,
                     "estimate": res.estimate[i], "ci_low": res.ci_low[i],
                     "ci_high": res.ci_high[i], "p": res.p[i],
                     "status": "ok" if np.isfinite(res.estimate[i]) else "not tested",
                     "n": int(grp["n"].sum()), "n_cohorts": k, "tau2": res.tau2[i],
                     "i2": res.i2[i], "pi_low": res.pi_low[i], "pi_high": res.pi_high[i],
                     "meta_method": method, "smd": res.estimate[i], "se_smd": res.se[i],
                     "test": "random_effects_smd",
                     "note": f"Hedges' g (tumour - non-tumour, within-group SD units), "
                             f"{meta.LABEL[method]} over {k} cohorts "
                             f"({', '.join(map(str, grp['cohort']))})"
                             + (f"; {FEW_COHORTS}" if k == 2 else "")})
    return pd.DataFrame(rows)


def with_pooled_and_fdr(tables: list[pd.DataFrame],
                        meta_method: str = "reml_hksj") -> pd.DataFrame:
    """Per-cohort tables -> one table with pooled rows and q (BH within each method, per-cohort
    and pooled rows separately; a family of its own, apart from survival and response)."""
    tables = [t for t in tables if not t.empty]
    if not tables:
        return pd.DataFrame(columns=["cohort", "method", "set", "endpoint", "analysis",
                                     "estimate", "ci_low", "ci_high", "p", "q", "status",
                                     "note", "n"])
    merged = pd.concat(tables, ignore_index=True)
    pooled = pool(merged, meta_method)
    if not pooled.empty:
        merged = pd.concat([merged, pooled], ignore_index=True)
    merged["q"] = np.nan
    is_pooled = merged["cohort"] == "pooled"
    for _, idx in merged.groupby([merged["method"], is_pooled]).groups.items():
        p = merged.loc[idx, "p"]
        p = p[p.notna()]
        if len(p):
            merged.loc[p.index, "q"] = sps.false_discovery_control(p.to_numpy(float),
                                                                   method="bh")
    return merged


def concat_tissue(table: pd.DataFrame, tissue_tables: list[pd.DataFrame]) -> pd.DataFrame:
    """results/statistics.tsv: the survival/response table with the tissue rows appended
    (their q computed in :func:`with_pooled_and_fdr`; the other rows are untouched)."""
    tissue_tables = [t for t in tissue_tables if not t.empty]
    if not tissue_tables:
        return table
    return pd.concat([table, *tissue_tables], ignore_index=True)


# --------------------------------------------------------------------------------------------
# samples: the comparison group of a cohort

def mark_local(clinical: pd.DataFrame, samples: Mapping[str, Any], *, source: str,
               cid: str) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """A local cohort's ``samples.compare`` ({column, values}) and ``samples.pair_by`` -> the
    reserved columns. Every declared value must match a sample (else the run stops, listing
    the observed values with their counts); samples with another value are tumours."""
    cmp_cfg = samples["compare"]
    col, values = cmp_cfg["column"], [str(v) for v in cmp_cfg["values"]]
    pair_by = samples.get("pair_by")
    for key, c in (("compare.column", col), ("pair_by", pair_by)):
        if c is not None and c not in clinical.columns:
            raise FerroscopeError(f"column '{c}' is not in the clinical table (columns: "
                                  f"{list(clinical.columns)[:12]}).", file=source,
                                  field=f"cohorts.{cid}.samples.{key}",
                                  fix="name a column of the clinical table.")
    observed = clinical[col].astype("string").str.strip()
    counts = observed.value_counts(dropna=False)
    unmatched = [v for v in values if v not in set(observed.dropna())]
    if unmatched:
        raise FerroscopeError(
            f"value(s) {unmatched} of samples.compare match no sample in column '{col}' "
            f"(observed: {', '.join(f'{k!s} ({v})' for k, v in counts.items())}).",
            file=source, field=f"cohorts.{cid}.samples.compare.values",
            fix="use the values exactly as the clinical table writes them.")
    out = clinical.copy()
    is_cmp = observed.isin(values).fillna(False).to_numpy(bool)
    out[GROUP] = np.where(is_cmp, NON_TUMOUR, TUMOUR)
    out[PAIR] = (clinical[pair_by].astype("string").str.strip().fillna("")
                 if pair_by else "")
    return out, [compare_record(out, col)]


def compare_record(clinical: pd.DataFrame, column: str) -> dict[str, Any]:
    """The mapping record of a comparison: non-tumour samples kept, tumours, pairs."""
    grp = clinical[GROUP]
    pairs = clinical[PAIR].fillna("").astype(str)
    t = pairs[(grp == TUMOUR) & (pairs != "")]
    n = pairs[(grp == NON_TUMOUR) & (pairs != "")]
    t, n = t[~t.duplicated(keep=False)], n[~n.duplicated(keep=False)]
    return {"mapping": "samples.compare", "column": column,
            "kept": int((grp == NON_TUMOUR).sum()), "dropped": 0,
            "tumours": int((grp == TUMOUR).sum()), "pairs": int(len(set(t) & set(n)))}


def _has_comparison(cfg: Mapping[str, Any]) -> bool:
    return bool(cfg.get("samples", {}).get("compare")) or bool(
        cfg.get("demo", {}).get("n_nontumour", 0))


def split(raw: pd.DataFrame, clinical: pd.DataFrame, cfg: Mapping[str, Any], *, source: str,
          cid: str) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The clinical table with the reserved columns (local cohorts: from config) and the
    comparison record; checks the reserved columns are there when a comparison is declared."""
    if cfg["source"] == "local" and cfg.get("samples", {}).get("compare"):
        return mark_local(clinical, cfg["samples"], source=source, cid=cid)
    if GROUP not in clinical.columns:
        raise FerroscopeError(
            f"cohort '{cid}' declares a tumour/non-tumour comparison but its assembled "
            f"clinical table has no '{GROUP}' column.", file=source,
            fix="re-run the cohort_source rule (delete resources/cohorts/"
                f"{cid}/clinical.tsv).")
    return clinical, []


def tumour_only(raw: pd.DataFrame, clinical: pd.DataFrame, records: list[dict[str, Any]],
                cfg: Mapping[str, Any], *, source: str, cid: str
                ) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, Any]]]:
    """Drop the comparison samples and the reserved columns: the tumour-only tables, exactly
    as without a comparison (the prepare step then runs unchanged).

    With ``source`` an existing clinical file, the tumour rows are parsed again from it on
    their own, so that every column gets the type it has in a tumour-only file (a column
    empty on the non-tumour rows would otherwise read as float instead of int)."""
    records = [r for r in records if r.get("mapping") != "samples.compare"]
    if not _has_comparison(cfg) and GROUP not in clinical.columns:
        return raw, clinical, records
    marked, _ = split(raw, clinical, cfg, source=source, cid=cid)
    sid = cfg["clinical"]["sample_id"]
    keep = (marked[GROUP] == TUMOUR).to_numpy()
    ids = set(marked.loc[~keep, sid].astype(str))
    clin = _reparse(clinical, keep, source).drop(columns=[GROUP, PAIR], errors="ignore")
    expr = raw.loc[:, [c for c in raw.columns if str(c) not in ids]]
    return expr, clin, records


def _reparse(clinical: pd.DataFrame, keep: np.ndarray, source: str) -> pd.DataFrame:
    """Rows ``keep`` of the table read from ``source`` (as ferroscope.io.read_table reads it),
    parsed on their own; the rows of ``clinical`` when the file is not there."""
    from pathlib import Path

    path = Path(source)
    name = path.name.lower().removesuffix(".gz")
    if not path.is_file() or not name.endswith((".tsv", ".csv", ".txt")):
        return clinical.loc[keep].reset_index(drop=True)
    rows = set(np.flatnonzero(keep) + 1)  # + the header line
    sep = "," if path.name.lower().removesuffix(".gz").endswith(".csv") else "\t"
    out = pd.read_csv(path, sep=sep, low_memory=False,
                      skiprows=lambda i: i > 0 and i not in rows)
    if len(out) != int(keep.sum()):
        raise FerroscopeError("the clinical table changed while it was read (or holds quoted "
                              "line breaks).", file=source,
                              fix="remove line breaks inside cells; run again.")
    return out


def comparison_samples(raw: pd.DataFrame, clinical: pd.DataFrame,
                       records: list[dict[str, Any]], cfg: Mapping[str, Any], *, source: str,
                       cid: str) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, Any]]]:
    """Tumour and non-tumour samples of a cohort: the expression (both groups), the groups
    table (sample_id, group, pair) and the comparison record."""
    marked, recs = split(raw, clinical, cfg, source=source, cid=cid)
    recs = recs or [r for r in records if r.get("mapping") == "samples.compare"]
    if not recs:
        recs = [compare_record(marked, GROUP)]
    sid = cfg["clinical"]["sample_id"]
    groups = pd.DataFrame({"sample_id": marked[sid].astype(str).str.strip(),
                           GROUP: marked[GROUP].astype(str),
                           PAIR: marked[PAIR].fillna("").astype(str)})
    groups = groups[groups["sample_id"].isin([str(c) for c in raw.columns])]
    if groups["sample_id"].duplicated().any():
        dup = groups.loc[groups["sample_id"].duplicated(), "sample_id"].iloc[0]
        raise FerroscopeError(f"sample '{dup}' appears twice in the clinical table.",
                              file=source, field=f"cohorts.{cid}.clinical.sample_id",
                              fix="keep one row per sample.")
    counts = groups[GROUP].value_counts()
    if counts.get(NON_TUMOUR, 0) == 0 or counts.get(TUMOUR, 0) == 0:
        raise FerroscopeError(
            f"cohort '{cid}': the comparison needs tumour and non-tumour samples with "
            f"expression; found {counts.to_dict()}.", file=source,
            field=f"cohorts.{cid}.samples.compare",
            fix="check the comparison values and the sample ids of the expression matrix.")
    expr = raw.loc[:, [c for c in raw.columns if str(c) in set(groups["sample_id"])]]
    return expr, groups.reset_index(drop=True), recs


def seed_genes(genes_table: pd.DataFrame) -> dict[str, str]:
    """Seed gene -> the sets it belongs to (comma-separated), in the curation table's order."""
    out: dict[str, list[str]] = {}
    for sym, set_name in zip(genes_table["symbol"], genes_table["set"], strict=True):
        out.setdefault(str(sym), [])
        if str(set_name) not in out[str(sym)]:
            out[str(sym)].append(str(set_name))
    return {g: ",".join(s) for g, s in out.items()}
