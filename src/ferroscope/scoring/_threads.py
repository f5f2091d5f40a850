"""Row blocks of a matrix processed in threads (numpy sorts and long-double sums release the
GIL), as many threads as numba uses for the compiled kernels."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np


def n_threads() -> int:
    return max(1, numba.get_num_threads())


def over_row_blocks(n_rows: int, block: Callable[[int, int], None],
                    step: int | None = None) -> None:
    """Call ``block(start, stop)`` for consecutive row ranges covering ``n_rows``, in threads.

    ``step`` defaults to about four blocks per thread (load balance without tiny blocks).
    """
    threads = n_threads()
    step = step or max(1, -(-n_rows // (4 * threads)))
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda s: block(s, min(s + step, n_rows)), range(0, n_rows, step)))


@numba.njit(parallel=True, cache=True, nogil=True)
def _transpose_tiles(a: np.ndarray, out: np.ndarray) -> None:
    n, m = a.shape
    tile = 64
    for bi in numba.prange((n + tile - 1) // tile):
        i0 = bi * tile
        i1 = min(n, i0 + tile)
        for j0 in range(0, m, tile):
            j1 = min(m, j0 + tile)
            for i in range(i0, i1):
                for j in range(j0, j1):
                    out[j, i] = a[i, j]


def transposed(a: np.ndarray) -> np.ndarray:
    """``a.T`` as a C-contiguous array: free when ``a`` is Fortran-ordered (a prepared
    cohort's genes x samples view), else a tiled copy in numba threads (numpy's strided
    copy is several times slower on large matrices)."""
    t = a.T
    if t.flags.c_contiguous:
        return t
    out = np.empty(t.shape, dtype=a.dtype)
    _transpose_tiles(a, out)
    return out


def c_order(a: np.ndarray) -> np.ndarray:
    """``a`` as a C-contiguous float64 array; a Fortran-ordered ``a`` (genes x samples read
    from an h5ad of samples x genes) is re-laid out by the tiled threaded copy."""
    a = np.asarray(a, dtype=np.float64)
    if a.flags.c_contiguous:
        return a
    if a.flags.f_contiguous:
        return transposed(a.T)
    return np.ascontiguousarray(a)
