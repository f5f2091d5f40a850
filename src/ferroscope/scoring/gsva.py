r"""Gene set variation analysis (GSVA), as implemented in R GSVA 1.46 (``method = "gsva"``).

Reference: Hänzelmann S, Castelo R, Guinney J (2013) BMC Bioinformatics 14:7; the arithmetic
follows GSVA 1.46's ``kernel_estimation.c`` and ``ks_test.c`` so that scores agree with R.

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

Genes with standard deviation below 1e-10 are dropped first, as R does for ``method = "gsva"``.
"""

from __future__ import annotations

import logging

import numba
import numpy as np
from scipy.special import ndtr, pdtr

from ._sets import SetIndex
from ._threads import over_row_blocks

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
    """r for one gene and sample summed exactly as R's row_d does (sample order)."""
    n = row.shape[0]
    left = 0.0
    yj = row[j]
    for i in range(n):
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


def gene_statistics(x: np.ndarray, kcdf: str = "Gaussian",
                    bw: np.ndarray | None = None) -> np.ndarray:
    """Step 1: the kernel log-odds r (genes x samples); bw: precomputed bandwidths."""
    n = x.shape[1]
    if kcdf == "Gaussian":
        x = np.ascontiguousarray(x, dtype=np.float64)
        return _gaussian_log_odds(x, bandwidths(x) if bw is None else bw, _TABLE)
    elif kcdf == "Poisson":
        if (x < 0).any():
            raise ValueError("the Poisson kernel needs non-negative counts")
        tails = _poisson_left_tails(x)
    else:
        raise ValueError(f"unknown kcdf {kcdf!r}; use 'Gaussian' or 'Poisson'")
    left = tails / n
    with np.errstate(divide="ignore"):
        return -1.0 * np.log((1.0 - left) / left)


@numba.njit(parallel=True, cache=True, nogil=True)
def _walk(rt: np.ndarray, orders: np.ndarray, flat: np.ndarray, offsets: np.ndarray,
          tau: float, mode: int, x: np.ndarray, bw: np.ndarray, table: np.ndarray,
          start: int) -> np.ndarray:
    """Walk statistics for every set and sample; rt is samples x genes (the r statistic),
    orders[j] = argsort(-rt[j]) with ties in any order.

    mode 0: E+ + E- (mx_diff), 1: E+ - E- (mx_diff with abs_ranking), 2: max deviation.
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
        if x.shape[0] == n_genes:
            tied = False
            for q in range(n_genes - 1):
                a, b = order[q], order[q + 1]
                if col[a] - col[b] <= NEAR_TIE * max(1.0, abs(col[a])):
                    col[a] = _r_in_r_order(x[a], start + j, bw[a], table)
                    col[b] = _r_in_r_order(x[b], start + j, bw[b], table)
                    tied = True
            if tied:
                order = np.argsort(-col)
        a = 0
        while a < n_genes:  # R's order(decreasing = TRUE) keeps ties in input order
            b = a
            while b + 1 < n_genes and col[order[b + 1]] == col[order[a]]:
                b += 1
            if b > a:
                order[a:b + 1] = np.sort(order[a:b + 1])
            a = b + 1
        pos = np.empty(n_genes, dtype=np.int64)
        for q in range(n_genes):
            pos[order[q]] = q + 1
        for s in range(n_sets):
            lo, hi = offsets[s], offsets[s + 1]
            k = hi - lo
            p = np.empty(k)
            for m in range(k):
                p[m] = pos[flat[lo + m]]
            p.sort()
            total = 0.0
            w = np.empty(k)
            for m in range(k):
                w[m] = abs(n_genes / 2.0 - p[m] + 1.0)
                if tau != 1.0:
                    w[m] = w[m] ** tau
                total += w[m]
            if total <= 0.0 or k == n_genes:
                out[s, j] = np.nan
                continue
            dec = 1.0 / (n_genes - k)
            cum = 0.0
            e_pos = 0.0
            e_neg = 0.0
            for m in range(k):
                out_steps = (p[m] - (m + 1)) * dec
                before = cum / total - out_steps   # just before the set gene
                cum += w[m]
                after = cum / total - out_steps    # just after it
                if after > e_pos:
                    e_pos = after
                if before < e_neg:
                    e_neg = before
            if mode == 0:
                out[s, j] = e_pos + e_neg
            elif mode == 1:
                out[s, j] = e_pos - e_neg
            else:
                out[s, j] = e_pos if e_pos > abs(e_neg) else e_neg
    return out


def walk_scores(r: np.ndarray, sets: list[np.ndarray], *, tau: float = 1.0,
                mx_diff: bool = True, abs_ranking: bool = False, chunk_size: int = 1000,
                x: np.ndarray | None = None, bw: np.ndarray | None = None) -> np.ndarray:
    """Steps 2-3 from the gene statistics r (genes x samples); returns (sets x samples).

    With x (the Gaussian-kernel input), near ties are resolved as R would order them.
    """
    index = SetIndex.of(sets)
    mode = (1 if abs_ranking else 0) if mx_diff else 2
    if x is None:
        xx, bw = np.zeros((0, 1)), np.zeros(0)
    else:
        xx = np.ascontiguousarray(x, dtype=np.float64)
        bw = bandwidths(xx) if bw is None else bw
    parts = []
    for start in range(0, r.shape[1], chunk_size):
        rt = np.ascontiguousarray(r[:, start:start + chunk_size].T)
        orders = _row_orders(rt, descending=True)
        parts.append(_walk(rt, orders, index.flat, index.offsets, float(tau), mode, xx, bw,
                           _TABLE, start))
    return np.concatenate(parts, axis=1)


def drop_constant(x: np.ndarray, sets: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """R's .filterFeatures: rows with sd < 1e-10 are removed and set indices remapped."""
    sd = x.std(axis=1, ddof=1)
    keep = sd >= MIN_SD
    if keep.all():
        return x, sets
    log.warning("%d genes with constant values are discarded", int((~keep).sum()))
    new_index = np.cumsum(keep) - 1
    return x[keep], [new_index[idx[keep[idx]]] for idx in sets]


def score(x: np.ndarray, sets: list[np.ndarray], *, kcdf: str = "Gaussian",
          mx_diff: bool = True, abs_ranking: bool = False, tau: float = 1.0,
          chunk_size: int = 1000, **_: object) -> np.ndarray:
    """GSVA enrichment scores, shape (len(sets), samples)."""
    x, sets = drop_constant(np.asarray(x, dtype=np.float64), sets)
    if kcdf != "Gaussian":
        return walk_scores(gene_statistics(x, kcdf), sets, tau=tau, mx_diff=mx_diff,
                           abs_ranking=abs_ranking, chunk_size=chunk_size)
    x = np.ascontiguousarray(x)
    bw = bandwidths(x)
    r = gene_statistics(x, kcdf, bw)
    return walk_scores(r, sets, tau=tau, mx_diff=mx_diff, abs_ranking=abs_ranking,
                       chunk_size=chunk_size, x=x, bw=bw)
