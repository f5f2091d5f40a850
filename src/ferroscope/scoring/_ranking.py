"""Ranking block: the order of every row of a matrix (genes within a sample, samples within a
gene), rows split over threads. Used by ssGSEA (genes per sample) and GSVA (samples per gene for
the CDFs, genes per sample for the walk)."""

from __future__ import annotations

import numpy as np

from ._threads import over_row_blocks


def row_orders(a: np.ndarray, descending: bool = False) -> np.ndarray:
    """argsort of every row of a (ties in any order, NaN last), rows split over threads; numpy's
    SIMD argsort is ~4x faster than numba's. Callers that need ties in input order (R's
    ``order``) put them back themselves, so the sort need not be stable."""
    orders = np.empty(a.shape, dtype=np.int64)

    def block(start: int, stop: int) -> None:
        blk = a[start:stop]
        orders[start:stop] = np.argsort(-blk if descending else blk, axis=1)

    over_row_blocks(a.shape[0], block)
    return orders
