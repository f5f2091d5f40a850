r"""The random-walk block: the GSEA/GSVA walk statistic of every set in one sample from its
members' positions in the sample's decreasing gene order (GSVA steps 2-3).

With the gene at 1-based position :math:`q` of the :math:`m` measured genes weighted
:math:`s = |m/2 - q + 1|^\tau`, walking down the order a member of :math:`S` (:math:`k` genes)
adds :math:`s / \sum_{g\in S} s_g`, any other gene subtracts :math:`1/(N-k)`. :math:`E^+` is
the walk's maximum and :math:`E^-` its minimum (both against 0); :class:`Statistic` says which
combination is the score. The walk is never built: its extremes sit just after / just before
the members, so one pass over the sorted member positions gives them.
"""

from __future__ import annotations

from enum import IntEnum

import numba
import numpy as np


class Statistic(IntEnum):
    """The walk's score (R GSVA's ``mx.diff`` / ``abs.ranking``)."""

    DIFFERENCE = 0       # E+ + E-: mx_diff (GSVA's default)
    ABS_DIFFERENCE = 1   # E+ - E-: mx_diff with abs_ranking
    MAX_DEVIATION = 2    # the extreme with the larger absolute value: mx_diff false

    @classmethod
    def of(cls, mx_diff: bool, abs_ranking: bool) -> Statistic:
        if not mx_diff:
            return cls.MAX_DEVIATION
        return cls.ABS_DIFFERENCE if abs_ranking else cls.DIFFERENCE


# plain ints for the compiled kernels
_DIFFERENCE = int(Statistic.DIFFERENCE)
_ABS_DIFFERENCE = int(Statistic.ABS_DIFFERENCE)


@numba.njit(cache=True, nogil=True)
def set_stat(p: np.ndarray, k: int, m: int, n_walk: int, tau: float, stat: int,
             r2: bool) -> float:
    """The walk statistic of one set in one sample from its members' sorted 1-based positions
    p[:k] in the decreasing order of the m measured genes; the walk has n_walk positions (all
    genes, missing ones included, as R 2.x walks), non-members step down by 1/(n_walk - k).

    stat: a :class:`Statistic`. r2: R 2.x's arithmetic (the out-steps divided by N - k as R's
    cumsum / N - k, and the max deviation E+ when E+ + E- > 0, as R's rowSums), so that exact
    ties pick the extreme R picks; else GSVA 1.46's (max deviation E+ when E+ > |E-|).
    """
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
    if stat == _DIFFERENCE:
        return e_pos + e_neg
    if stat == _ABS_DIFFERENCE:
        return e_pos - e_neg
    if r2:
        return e_pos if e_pos + e_neg > 0 else e_neg
    return e_pos if e_pos > abs(e_neg) else e_neg


@numba.njit(cache=True, nogil=True)
def sets_of_sample(pos: np.ndarray, m: int, flat: np.ndarray, offsets: np.ndarray, tau: float,
                   stat: int, r2: bool, na_rm: bool, min_size: int, out: np.ndarray,
                   j: int) -> None:
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
        out[s, j] = set_stat(p, k, m, n_genes, tau, stat, r2)
