r"""Gene set variation analysis (GSVA), as R GSVA 2.x computes it (``gsvaParam``), or as R GSVA
1.46 did (``compat = "1.46"``).

Reference: Hänzelmann S, Castelo R, Guinney J (2013) BMC Bioinformatics 14:7; the arithmetic
follows R GSVA's ``kernel_estimation.c``, ``ecdfvals.c`` and ``R/gsva.R`` (2.0) and 1.46's
``ks_test.c`` so that scores agree with R (tests/test_reference_gsva*.py).

**0. Which CDF** (:func:`resolve_kcdf`). ``kcdf = "auto"`` (R 2.x's default): the direct
empirical CDF ("none") with at least ``kcdf_none_min_samples`` (200) samples, else the Gaussian
kernel, or the Poisson kernel for integer data. The direct ECDF of gene :math:`g` in sample
:math:`j` is :math:`\#\{k: x_{gk} \text{ measured}, x_{gk} \le x_{gj}\} / n` with :math:`n`
counting all samples; only its rank within a sample matters, so ferroscope keeps the integer
count (one sort per gene) and orders a sample's genes by a histogram of counts instead of a
sort, ties by row order as R's ``colRanks(ties.method = "last")``.

**1. Kernel CDF per gene.** For gene :math:`g` with values :math:`x_1..x_n` over the samples,

.. math:: L_{gj} = \frac{1}{n}\sum_{i=1}^{n} K(x_j - x_i), \qquad
          r_{gj} = \log\frac{L_{gj}}{1 - L_{gj}}

Gaussian kernel (log-scale data, ``kcdf = "Gaussian"``): :math:`K(d) = \Phi(d / h)` with
bandwidth :math:`h = \mathrm{sd}(x)/4`, where, exactly as R, :math:`\Phi` is read from a table of
10,001 values on :math:`[0, 10]` indexed by ``(int)(|d/h| / 10 * 10000)`` (so the CDF is a step
function with steps of 0.001 s.d.), :math:`1 - \Phi` for negative :math:`d`, 0 / 1 beyond
:math:`\pm 10`. Poisson kernel (counts, ``kcdf = "Poisson"``): :math:`K = F_{Pois}(x_j;\,
x_i + 0.5)`.

**2. Rank score per sample.** Genes are ordered by decreasing :math:`r_{gj}` (ties in input
order); the gene at 1-based position :math:`q` of :math:`N` gets :math:`s = |N/2 - q + 1|`.

**3. Random walk per set** :math:`S` (:math:`k` genes): walking down the order, a gene in
:math:`S` adds :math:`s^\tau / \sum_{g\in S} s_g^\tau`, any other gene subtracts
:math:`1/(N-k)`. With :math:`E^+` the walk's maximum and :math:`E^-` its minimum (both
against 0), ``mx_diff = True`` gives :math:`E^+ + E^-` (difference of the extremes, GSVA's
default), ``mx_diff = False`` the extreme with the larger absolute value (classic maximum
deviation), ``abs_ranking = True`` :math:`E^+ - E^-`.

**Cost.** Step 1 is all-pairs per gene in every implementation (R, gseapy, decoupler): R's step
table makes the CDF a step function of the pair difference, so any approximation (windowed
erf, binning, FFT) changes the within-sample order of genes and with it the scores by up to
:math:`1/(N-k)`. ferroscope keeps the exact pair sum but visits each unordered pair once
(:math:`K(-d) = 1 - K(d)` holds exactly in R's table), in compiled code (numba) parallel over
genes; steps 2-3 are vectorised per chunk of samples in closed form (the walk's extremes sit just
after / just before set genes, so no walk of length :math:`N` is built).

Genes are filtered first: R 2.x drops genes whose measured values are all equal; 1.46 dropped
genes with standard deviation below 1e-10. Set members count once in 2.x; with ``compat =
"1.46"`` a member listed twice weighs twice in the walk's normaliser and in :math:`N - k`, as
1.46 did.

**Missing values** (NaN, R 2.x ``use``). ECDF: missing cells stay missing, the others' counts
ignore them. Kernels: ``na.rm`` estimates a gene from its measured samples (bandwidth from their
s.d., sum divided by their number); ``everything`` makes a gene with any missing cell missing in
every sample. Walk: a sample's :math:`m` measured genes take positions 1..m (rank statistic
:math:`|m/2 - q + 1|`), the missing genes follow, and the walk runs over all :math:`N` genes
(non-members step down by :math:`1/(N-k)`). ``everything``: NA where a member is missing;
``na.rm``: missing members dropped, NA when fewer than ``min_size`` remain.
"""

from __future__ import annotations

import logging

import numba
import numpy as np
from scipy.special import ndtr, pdtr

from ._base import Method
from ._sets import SetIndex
from ._threads import c_order, over_row_blocks, transposed

log = logging.getLogger(__name__)

#: R's precomputed_cdf: pnorm(10 * i / 10000) for i = 0..10000.
_TABLE = ndtr(10.0 * np.arange(10001) / 10000.0)
MIN_SD = 1e-10
#: r values closer than this (relative) within a sample are recomputed in R's summation order
NEAR_TIE = 1e-9


@numba.njit(cache=True, nogil=True)
def _row_left_tail(row: np.ndarray, order: np.ndarray, bw: float, table: np.ndarray,
                   k_one: int, out: np.ndarray) -> None:
    """out[j] = r for sample j: log-odds of (1/n) sum_i K(row[j] - row[i]) with R's table
    kernel, each pair visited once.

    On the sorted row every pair (j, i > j) has d = x_j - x_i <= 0: j receives 1 - T[k] and
    i receives T[k] (R's lookup, k = (int)(|d / bw| / 10 * 10000); d = 0 gives T[0] = 0.5 to
    both, the same formula). Pairs beyond 10 bandwidths give j 0 and i 1: i's count of such j
    comes from a running window start instead of a loop.
    """
    n = row.shape[0]
    xs = row[order]  # order = argsort(row); ties in any order (they give T[0] both ways)
    acc = np.zeros(n)
    # R's index (int)(|d / bw| / 10 * 10000) needs two divisions per pair; d * 1000/bw is twice
    # as fast and within 1e-15 (relative) of it. Computing it with the factor shrunk and grown by
    # 1e-13 brackets R's value: where both give the same integer, that integer is R's. A row
    # with any pair whose bracket straddles an integer (rare) is corrected with R's expression.
    lo = (1000.0 / bw) * (1.0 - 1e-13)
    hi = (1000.0 / bw) * (1.0 + 1e-13)
    end = 0  # first index beyond the window of the current j (non-decreasing in j)
    far = np.zeros(n + 1)  # far[i]: j's whose window ended before i (they give i a 1)
    for j in range(n):
        yj = xs[j]
        if end < j + 1:
            end = j + 1
        # pairs whose table value is exactly 1.0 (k >= k_one, about 8.3 bandwidths) act like
        # pairs beyond R's cut-off: j receives 1 - 1.0 = 0 and i receives 1
        while end < n and (yj - xs[end]) / bw >= -10.0 and \
                int(-((yj - xs[end]) / bw) / 10.0 * 10000.0) < k_one:
            end += 1
        far[end] += 1.0
        # four partial sums: one running sum would serialise the loop on the add latency
        c0 = 0.0
        c1 = 0.0
        c2 = 0.0
        c3 = 0.0
        ambiguous = 0
        i = j + 1
        while i + 3 < end:
            d0 = xs[i] - yj
            d1 = xs[i + 1] - yj
            d2 = xs[i + 2] - yj
            d3 = xs[i + 3] - yj
            k0 = int(d0 * lo)  # <= 10000 inside the window: no clamp needed
            k1 = int(d1 * lo)
            k2 = int(d2 * lo)
            k3 = int(d3 * lo)
            ambiguous += int(d0 * hi) - k0
            ambiguous += int(d1 * hi) - k1
            ambiguous += int(d2 * hi) - k2
            ambiguous += int(d3 * hi) - k3
            t0 = table[k0]
            t1 = table[k1]
            t2 = table[k2]
            t3 = table[k3]
            c0 += t0
            c1 += t1
            c2 += t2
            c3 += t3
            acc[i] += t0
            acc[i + 1] += t1
            acc[i + 2] += t2
            acc[i + 3] += t3
            i += 4
        while i < end:
            d = xs[i] - yj
            k = int(d * lo)
            ambiguous += int(d * hi) - k
            c = table[k]
            c0 += c
            acc[i] += c
            i += 1
        csum = (c0 + c1) + (c2 + c3)
        if ambiguous:
            for i in range(j + 1, end):
                d = xs[i] - yj
                k_fast = int(d * lo)
                k_r = int(-((yj - xs[i]) / bw) / 10.0 * 10000.0)
                if k_r != k_fast:
                    delta = table[k_r] - table[k_fast]
                    csum += delta
                    acc[i] += delta
        acc[j] += table[0] + (end - j - 1) - csum
    running = 0.0
    for i in range(n):
        running += far[i]
        left = (acc[i] + running) / n
        out[order[i]] = -1.0 * np.log((1.0 - left) / left)  # R: r = -log((1 - L) / L)


@numba.njit(parallel=True, cache=True, nogil=True)
def _gaussian_block(x: np.ndarray, orders: np.ndarray, bw: np.ndarray, table: np.ndarray,
                    k_one: int, out: np.ndarray) -> None:
    for g in numba.prange(x.shape[0]):
        _row_left_tail(x[g], orders[g], bw[g], table, k_one, out[g])


def _gaussian_log_odds(x: np.ndarray, bw: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The kernel log-odds of every gene, in blocks of genes of about 4 M values.

    Each block's rows are sorted by numpy in threads, then the pair sums run in numba threads.
    """
    n_genes, n = x.shape
    out = np.empty((n_genes, n))
    rows = max(1, (1 << 22) // max(n, 1))
    k_one = int(np.searchsorted(table, 1.0))  # first table entry equal to 1.0 (~8.3 bandwidths)
    for start in range(0, n_genes, rows):
        blk = x[start:start + rows]
        _gaussian_block(blk, _row_orders(blk), bw[start:start + rows], table, k_one,
                        out[start:start + rows])
    return out


def bandwidths(x: np.ndarray) -> np.ndarray:
    """sd(x) / 4 per gene with R's arithmetic (long double sums, mean corrected once).

    numpy's long double loops release the GIL, so blocks of genes run in threads.
    """
    out = np.empty(x.shape[0])
    n = x.shape[1]

    def block(start: int, stop: int) -> None:
        blk = x[start:stop].astype(np.longdouble)
        mean = blk.sum(axis=1) / n
        mean = mean + (blk - mean[:, None]).sum(axis=1) / n
        ss = ((blk - mean[:, None]) ** 2).sum(axis=1)
        out[start:stop] = np.sqrt((ss / np.longdouble(n - 1)).astype(np.float64))

    over_row_blocks(x.shape[0], block, step=512)
    # rows with missing values: sd over the measured samples (R's sd_narm; NA below 2)
    for g in np.flatnonzero(np.isnan(out)):
        v = x[g][~np.isnan(x[g])].astype(np.longdouble)
        if v.size < 2:
            continue
        mean = v.sum() / v.size
        mean = mean + (v - mean).sum() / v.size
        out[g] = np.sqrt(float(((v - mean) ** 2).sum() / np.longdouble(v.size - 1)))
    return out / 4.0


def _row_orders(a: np.ndarray, descending: bool = False) -> np.ndarray:
    """argsort of every row of a (ties in any order), rows split over threads; numpy's SIMD
    argsort is ~4x faster than numba's. The walk kernel puts tied r back in input order, so
    the sort need not be stable."""
    orders = np.empty(a.shape, dtype=np.int64)

    def block(start: int, stop: int) -> None:
        blk = a[start:stop]
        orders[start:stop] = np.argsort(-blk if descending else blk, axis=1)

    over_row_blocks(a.shape[0], block)
    return orders


@numba.njit(cache=True, nogil=True)
def _r_in_r_order(row: np.ndarray, j: int, bw: float, table: np.ndarray) -> float:
    """r for one gene and sample summed exactly as R's row_d does (sample order); missing
    samples are skipped and the sum divided by the measured ones (R's row_d_narm)."""
    n = 0
    left = 0.0
    yj = row[j]
    for i in range(row.shape[0]):
        if np.isnan(row[i]):
            continue
        n += 1
        v = (yj - row[i]) / bw
        if v < -10.0:
            left += 0.0
        elif v > 10.0:
            left += 1.0
        else:
            c = table[int(abs(v) / 10.0 * 10000.0)]
            left += 1.0 - c if v < 0.0 else c
    left = left / n
    return -1.0 * np.log((1.0 - left) / left)


def _poisson_left_tails(x: np.ndarray) -> np.ndarray:
    """sum_i ppois(x_j, x_i + 0.5) per gene, over the distinct values of the row."""
    out = np.empty_like(x, dtype=np.float64)
    for g in range(x.shape[0]):
        values, inverse, counts = np.unique(x[g], return_inverse=True, return_counts=True)
        k = np.floor(values + 1e-7)  # R's ppois floors its quantile with this fuzz
        cdf = pdtr(k[:, None], values[None, :] + 0.5)  # [a, b] = P(X <= k_a; lambda_b)
        out[g] = (cdf @ counts)[inverse]
    return out


def gene_statistics(x: np.ndarray, kcdf: str = "Gaussian", bw: np.ndarray | None = None,
                    missing: str = "na.rm") -> np.ndarray:
    """Step 1: the kernel log-odds r (genes x samples); bw: precomputed bandwidths.

    Missing cells (NaN) stay NaN. A gene with missing cells is, as in R 2.x's C code,
    NaN in every sample under ``missing = "everything"`` (row_d_naprop) and under ``"na.rm"``
    estimated from its measured samples only: bandwidth from their s.d. and the kernel sum
    divided by their number (row_d_narm).
    """
    n = x.shape[1]
    gaps = np.isnan(x).any(axis=1)
    if gaps.any():
        x = np.ascontiguousarray(x, dtype=np.float64)
        if kcdf == "Gaussian" and bw is None:
            bw = bandwidths(x)
        out = np.full(x.shape, np.nan)
        full = ~gaps
        if full.any():
            out[full] = gene_statistics(x[full], kcdf, None if bw is None else bw[full])
        if missing == "na.rm":
            for g in np.flatnonzero(gaps):
                measured = ~np.isnan(x[g])
                if measured.sum() < (2 if kcdf == "Gaussian" else 1):
                    continue
                v = x[g, measured][None, :]
                out[g, measured] = gene_statistics(
                    v, kcdf, None if bw is None else bw[g:g + 1])[0]
        return out
    if kcdf == "Gaussian":
        x = np.ascontiguousarray(x, dtype=np.float64)
        return _gaussian_log_odds(x, bandwidths(x) if bw is None else bw, _TABLE)
    elif kcdf == "Poisson":
        if (x < 0).any():
            raise ValueError("the Poisson kernel needs non-negative counts")
        tails = _poisson_left_tails(x)
    else:
        raise ValueError(f"unknown kcdf {kcdf!r}; use 'auto', 'none', 'Gaussian' or 'Poisson'")
    left = tails / n
    with np.errstate(divide="ignore"):
        return -1.0 * np.log((1.0 - left) / left)


@numba.njit(cache=True, nogil=True)
def _set_stat(p: np.ndarray, k: int, m: int, n_walk: int, tau: float, mode: int) -> float:
    """The walk statistic of one set in one sample from its members' sorted 1-based positions
    p[:k] in the decreasing order of the m measured genes; the walk has n_walk positions (all
    genes, missing ones included, as R 2.x walks), non-members step down by 1/(n_walk - k).

    mode 0: E+ + E- (mx_diff), 1: E+ - E- (mx_diff with abs_ranking), 2: max deviation
    (E+ if E+ > |E-|, GSVA 1.46); modes 3-5 the same with R 2.x's arithmetic (the out-steps
    divided by N - k as R's cumsum / N - k, and the max deviation E+ when E+ + E- > 0, as
    R's rowSums), so that exact ties pick the extreme R picks.
    """
    r2 = mode >= 3
    mode = mode % 3
    if k == 0 or k == n_walk:
        return np.nan
    total = 0.0
    w = np.empty(k)
    for q in range(k):
        w[q] = abs(m / 2.0 - p[q] + 1.0)
        if tau != 1.0:
            w[q] = w[q] ** tau
        total += w[q]
    if total <= 0.0:
        return np.nan
    dec = 1.0 / (n_walk - k)
    cum = 0.0
    e_pos = 0.0
    e_neg = 0.0
    n_out = float(n_walk - k)
    seen = 0  # distinct positions so far: a member listed twice (GSVA 1.46 keeps repeats)
    for q in range(k):  # is stepped over once but weighs twice in total and in N - k
        if q > 0 and p[q] == p[q - 1]:
            continue
        out_steps = (p[q] - (seen + 1)) / n_out if r2 else (p[q] - (seen + 1)) * dec
        seen += 1
        before = cum / total - out_steps   # just before the set gene
        cum += w[q]
        after = cum / total - out_steps    # just after it
        if after > e_pos:
            e_pos = after
        if before < e_neg:
            e_neg = before
    if seen < k:  # with repeats the walk ends below 0 (GSVA 1.46): its last value counts
        end = cum / total - (n_walk - seen) * dec
        if end < e_neg:
            e_neg = end
    if mode == 0:
        return e_pos + e_neg
    if mode == 1:
        return e_pos - e_neg
    if r2:
        return e_pos if e_pos + e_neg > 0 else e_neg
    return e_pos if e_pos > abs(e_neg) else e_neg


@numba.njit(cache=True, nogil=True)
def _sets_of_sample(pos: np.ndarray, m: int, flat: np.ndarray, offsets: np.ndarray, tau: float,
                    mode: int, na_rm: bool, min_size: int, out: np.ndarray, j: int) -> None:
    """Score every set in sample j from pos (1-based position per gene, -1 = missing)."""
    n_genes = pos.shape[0]
    for s in range(offsets.shape[0] - 1):
        lo, hi = offsets[s], offsets[s + 1]
        p = np.empty(hi - lo)
        k = 0
        missing = False
        for q in range(lo, hi):
            v = pos[flat[q]]
            if v < 0:
                missing = True
            else:
                p[k] = v
                k += 1
        if missing and (not na_rm or k < min_size):
            out[s, j] = np.nan
            continue
        p = np.sort(p[:k])
        out[s, j] = _set_stat(p, k, m, n_genes, tau, mode)


@numba.njit(parallel=True, cache=True, nogil=True)
def _walk(rt: np.ndarray, orders: np.ndarray, flat: np.ndarray, offsets: np.ndarray,
          tau: float, mode: int, x: np.ndarray, bw: np.ndarray, table: np.ndarray,
          start: int, na_rm: bool, min_size: int) -> np.ndarray:
    """Walk statistics for every set and sample; rt is samples x genes (the r statistic, NaN
    where missing), orders[j] = argsort(-rt[j]) with ties in any order and NaN last.

    Near ties of r within a sample (closer than NEAR_TIE, relative) are recomputed in R's
    summation order before ranking when x is given (Gaussian kernel): genes whose r are equal in
    exact arithmetic (e.g. rows that are permutations of each other in integer data) are
    ordered by R's rounding noise, which summing as R does reproduces.
    """
    n_samples, n_genes = rt.shape
    n_sets = offsets.shape[0] - 1
    out = np.empty((n_sets, n_samples))
    for j in numba.prange(n_samples):
        col = rt[j]
        order = orders[j]
        m = 0
        for g in range(n_genes):
            if not np.isnan(col[g]):
                m += 1
        if x.shape[0] == n_genes:
            tied = False
            for q in range(m - 1):
                a, b = order[q], order[q + 1]
                if col[a] - col[b] <= NEAR_TIE * max(1.0, abs(col[a])):
                    col[a] = _r_in_r_order(x[a], start + j, bw[a], table)
                    col[b] = _r_in_r_order(x[b], start + j, bw[b], table)
                    tied = True
            if tied:
                order = np.argsort(-col)
        a = 0
        while a < m:  # R's order(decreasing = TRUE) keeps ties in input order
            b = a
            while b + 1 < m and col[order[b + 1]] == col[order[a]]:
                b += 1
            if b > a:
                order[a:b + 1] = np.sort(order[a:b + 1])
            a = b + 1
        pos = np.full(n_genes, -1, dtype=np.int64)
        for q in range(m):
            pos[order[q]] = q + 1
        _sets_of_sample(pos, m, flat, offsets, tau, mode, na_rm, min_size, out, j)
    return out


@numba.njit(parallel=True, cache=True, nogil=True)
def _walk_counts(ct: np.ndarray, n_values: int, flat: np.ndarray, offsets: np.ndarray,
                 tau: float, mode: int, na_rm: bool, min_size: int) -> np.ndarray:
    """Walk statistics from ECDF counts (samples x genes, -1 = missing, else 1..n_values).

    The decreasing order of a sample's genes, ties in row order (R's colRanks(ties.method =
    "last")), needs no sort: a gene with count c sits after every gene with a larger count
    and after the earlier genes with the same count, both read from a histogram of counts.
    """
    n_samples, n_genes = ct.shape
    n_sets = offsets.shape[0] - 1
    out = np.empty((n_sets, n_samples))
    for j in numba.prange(n_samples):
        col = ct[j]
        above = np.zeros(n_values + 2, dtype=np.int64)
        m = 0
        for g in range(n_genes):
            c = col[g]
            if c >= 0:
                above[c] += 1
                m += 1
        # above[c] <- number of genes with a count larger than c
        run = 0
        for c in range(n_values + 1, -1, -1):
            here = above[c]
            above[c] = run
            run += here
        pos = np.empty(n_genes, dtype=np.int64)
        for g in range(n_genes):
            c = col[g]
            if c >= 0:
                above[c] += 1  # this gene and the earlier ties now precede the next tie
                pos[g] = above[c]
            else:
                pos[g] = -1
        _sets_of_sample(pos, m, flat, offsets, tau, mode, na_rm, min_size, out, j)
    return out


def walk_scores(r: np.ndarray, sets: list[np.ndarray], *, tau: float = 1.0,
                mx_diff: bool = True, abs_ranking: bool = False, chunk_size: int = 1000,
                x: np.ndarray | None = None, bw: np.ndarray | None = None,
                missing: str = "na.rm", min_size: int = 1, r2: bool = True) -> np.ndarray:
    """Steps 2-3 from the gene statistics r (genes x samples, NaN = missing); returns
    (sets x samples). ``r2``: R 2.x's walk arithmetic (False: GSVA 1.46's).

    With x (the Gaussian-kernel input), near ties are resolved as R would order them.
    """
    index = SetIndex.of(sets)
    mode = ((1 if abs_ranking else 0) if mx_diff else 2) + (3 if r2 else 0)
    if x is None:
        xx, bw = np.zeros((0, 1)), np.zeros(0)
    else:
        xx = np.ascontiguousarray(x, dtype=np.float64)
        bw = bandwidths(xx) if bw is None else bw
    parts = []
    for start in range(0, r.shape[1], chunk_size):
        rt = transposed(r[:, start:start + chunk_size])
        orders = _row_orders(rt, descending=True)
        parts.append(_walk(rt, orders, index.flat, index.offsets, float(tau), mode, xx, bw,
                           _TABLE, start, missing == "na.rm", int(min_size)))
    return np.concatenate(parts, axis=1)


@numba.njit(parallel=True, cache=True, nogil=True)
def _counts_from_orders(x: np.ndarray, orders: np.ndarray, out: np.ndarray) -> None:
    """out[g, j] = #{k: x[g, k] <= x[g, j]} over measured k (-1 where x is missing), from the
    ascending order of each row (NaN last)."""
    n = x.shape[1]
    for g in numba.prange(x.shape[0]):
        row = x[g]
        order = orders[g]
        m = n
        while m > 0 and np.isnan(row[order[m - 1]]):
            m -= 1
            out[g, order[m]] = -1
        q = 0
        while q < m:
            e = q
            while e + 1 < m and row[order[e + 1]] == row[order[q]]:
                e += 1
            for t in range(q, e + 1):
                out[g, order[t]] = e + 1
            q = e + 1


def ecdf_counts(x: np.ndarray) -> np.ndarray:
    """Step 1 without a kernel (R 2.x ``kcdf = "none"``): for every gene the number of its
    measured samples with a value at most the sample's, int32 (genes x samples), -1 where
    missing. R's ECDF value is this count divided by the number of ALL samples (missing ones
    included), so only the count matters for the ranks.

    One sort per gene (numpy's SIMD argsort in threads, blocks of about 4 M values), then a
    linear pass in numba.
    """
    x = c_order(x)
    n_genes, n = x.shape
    out = np.empty((n_genes, n), dtype=np.int32)
    rows = max(1, (1 << 22) // max(n, 1))
    for start in range(0, n_genes, rows):
        blk = x[start:start + rows]
        _counts_from_orders(blk, _row_orders(blk), out[start:start + rows])
    return out


def ecdf_walk_scores(counts: np.ndarray, sets: list[np.ndarray], *, tau: float = 1.0,
                     mx_diff: bool = True, abs_ranking: bool = False,
                     chunk_size: int = 1000, missing: str = "na.rm",
                     min_size: int = 1, r2: bool = True) -> np.ndarray:
    """Steps 2-3 from ECDF counts (see :func:`ecdf_counts`); (sets x samples)."""
    index = SetIndex.of(sets)
    mode = ((1 if abs_ranking else 0) if mx_diff else 2) + (3 if r2 else 0)
    n_values = counts.shape[1]
    parts = []
    for start in range(0, counts.shape[1], chunk_size):
        ct = transposed(counts[:, start:start + chunk_size])
        parts.append(_walk_counts(ct, n_values, index.flat, index.offsets, float(tau), mode,
                                  missing == "na.rm", int(min_size)))
    return np.concatenate(parts, axis=1)


def drop_constant(x: np.ndarray, sets: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """R 1.46's .filterFeatures: rows with sd < 1e-10 are removed and set indices remapped
    (sd over the measured samples when values are missing)."""
    with np.errstate(invalid="ignore"):
        sd = (np.nanstd(x, axis=1, ddof=1) if np.isnan(x).any() else x.std(axis=1, ddof=1))
    return _keep_rows(x, sets, sd >= MIN_SD)


def drop_flat(x: np.ndarray, sets: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """R 2.x's .filterGenes: rows whose measured values are all equal (min == max), or that
    have no measured value, are removed and set indices remapped."""
    if np.isnan(x).any():
        measured = ~np.isnan(x)
        lo = np.where(measured, x, np.inf).min(axis=1)
        hi = np.where(measured, x, -np.inf).max(axis=1)
        keep = measured.any(axis=1) & (hi > lo)
    else:
        keep = x.max(axis=1) > x.min(axis=1) if x.shape[1] else np.zeros(x.shape[0], bool)
    return _keep_rows(x, sets, keep)


def _keep_rows(x: np.ndarray, sets: list[np.ndarray],
               keep: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    if keep.all():
        return x, sets
    log.warning("%d genes with constant values are discarded", int((~keep).sum()))
    new_index = np.cumsum(keep) - 1
    return x[keep], [new_index[idx[keep[idx]]] for idx in sets]


#: R 2.x's kcdfNoneMinSampleSize: with at least this many samples ``auto`` uses the direct ECDF
KCDF_NONE_MIN_SAMPLES = 200


def is_integer_data(x: np.ndarray) -> bool:
    """ferroscope's stand-in for R's ``is.integer(expr[1, 1])``: every measured value is a
    non-negative whole number (counts). See :func:`resolve_kcdf`."""
    v = x[~np.isnan(x)] if np.isnan(x).any() else x
    return bool(v.size) and bool(np.all(v >= 0)) and bool(np.all(v == np.floor(v)))


def resolve_kcdf(x: np.ndarray, kcdf: str = "auto", *,
                 min_samples: int = KCDF_NONE_MIN_SAMPLES, integer: bool | None = None,
                 compat: str = "2.0") -> tuple[str, str]:
    """The kernel GSVA uses ("none", "Gaussian" or "Poisson") and why, as R 2.x decides it.

    ``auto`` (R 2.x's default): with at least ``min_samples`` samples (columns, missing cells
    included) the direct ECDF ("none"); below, Poisson for integer data and Gaussian otherwise.
    R calls data integer when the matrix is *stored* as integers; text and h5ad inputs carry no
    such type, so ferroscope calls data integer when ``integer`` says so or, when ``integer``
    is None, when every measured value is a non-negative whole number (the workflow passes
    ``integer = False`` for cohorts its prepare step log-transformed). Differences from R: a
    double matrix of whole numbers (e.g. rounded log values) is Gaussian in R but Poisson here
    unless it was log-transformed by prepare; an integer-typed matrix with negative values is
    Poisson in R but Gaussian here. With ``compat = "1.46"`` ``auto`` means Gaussian (R 1.46's
    default) and "none" does not exist.
    """
    n = x.shape[1]
    if compat == "1.46":
        if kcdf == "none":
            raise ValueError("kcdf 'none' does not exist in GSVA 1.46 (compat = '1.46')")
        if kcdf == "auto":
            return "Gaussian", "compat 1.46: GSVA 1.46's default kernel"
        return kcdf, "set in the config (compat 1.46)"
    if kcdf != "auto":
        return kcdf, "set in the config (scoring.gsva.kcdf)"
    if n >= min_samples:
        return "none", f"auto: {n} samples >= {min_samples} (kcdf_none_min_samples)"
    integer = is_integer_data(x) if integer is None else integer
    if integer:
        return "Poisson", (f"auto: {n} samples < {min_samples} and integer data (all values "
                           "non-negative whole numbers, not log-transformed)")
    return "Gaussian", f"auto: {n} samples < {min_samples} and non-integer data"


def score(x: np.ndarray, sets: list[np.ndarray], *, kcdf: str = "auto",
          kcdf_none_min_samples: int = KCDF_NONE_MIN_SAMPLES, compat: str = "2.0",
          integer: bool | None = None, missing: str = "na.rm", min_size: int = 1,
          mx_diff: bool = True, abs_ranking: bool = False, tau: float = 1.0,
          chunk_size: int = 1000, info: dict | None = None, **_: object) -> np.ndarray:
    """GSVA enrichment scores, shape (len(sets), samples); NaN cells are missing values.

    ``info`` (a dict), when given, receives the kernel used and the reason.
    """
    x = np.asarray(x, dtype=np.float64)
    has_nan = bool(np.isnan(x).any())
    if compat == "1.46" and has_nan:
        raise ValueError("GSVA 1.46 has no missing-value policy (compat = '1.46')")
    kernel, reason = resolve_kcdf(x, kcdf, min_samples=kcdf_none_min_samples,
                                  integer=integer, compat=compat)
    if info is not None:
        info.update(kcdf=kernel, kcdf_reason=reason)
    x, sets = (drop_constant if compat == "1.46" else drop_flat)(x, sets)
    opts = dict(tau=tau, mx_diff=mx_diff, abs_ranking=abs_ranking, chunk_size=chunk_size,
                missing=missing, min_size=min_size, r2=compat != "1.46")
    if kernel == "none":
        return ecdf_walk_scores(ecdf_counts(x), sets, **opts)
    if kernel != "Gaussian":
        return walk_scores(gene_statistics(x, kernel, missing=missing), sets, **opts)
    x = c_order(x)
    bw = bandwidths(x)
    r = gene_statistics(x, kernel, bw, missing=missing)
    return walk_scores(r, sets, x=x, bw=bw, **opts)


#: this method's registry entry (collected in :data:`ferroscope.scoring.METHODS`)
METHOD = Method("gsva", score, single_sample=False,
                summary="GSVA: CDF per gene across samples (direct ECDF or kernel, R 2.x kcdf "
                        "rule), then a rank random walk",
                reference="Hänzelmann 2013 BMC Bioinformatics (R GSVA 2.x arithmetic; 1.46 with "
                          "scoring.gsva.compat)")
