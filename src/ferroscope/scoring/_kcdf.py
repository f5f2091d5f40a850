r"""GSVA step 1, the CDF of every gene across samples, as R GSVA computes it: the Gaussian
kernel (R's ``kernel_estimation.c``, table lookup), the Poisson kernel, and the direct empirical
CDF (R 2.x ``kcdf = "none"``, ``ecdfvals.c``) kept as integer counts. The formulas, R's table
and the cost argument are in :mod:`ferroscope.scoring.gsva`; this module is its arithmetic.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.special import ndtr, pdtr

from ._ranking import row_orders
from ._threads import c_order, over_row_blocks

#: R's precomputed_cdf: pnorm(10 * i / 10000) for i = 0..10000.
TABLE = ndtr(10.0 * np.arange(10001) / 10000.0)

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
        _gaussian_block(blk, row_orders(blk), bw[start:start + rows], table, k_one,
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


@numba.njit(cache=True, nogil=True)
def r_in_r_order(row: np.ndarray, j: int, bw: float, table: np.ndarray) -> float:
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
        return _gaussian_log_odds(x, bandwidths(x) if bw is None else bw, TABLE)
    elif kcdf == "Poisson":
        if (x < 0).any():
            raise ValueError("the Poisson kernel needs non-negative counts")
        tails = _poisson_left_tails(x)
    else:
        raise ValueError(f"unknown kernel {kcdf!r}: GSVA's kcdf is one of auto, none, "
                         "Gaussian, Poisson (auto and none never reach the kernel)")
    left = tails / n
    with np.errstate(divide="ignore"):
        return -1.0 * np.log((1.0 - left) / left)


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
        _counts_from_orders(blk, row_orders(blk), out[start:start + rows])
    return out
