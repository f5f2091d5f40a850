"""Row blocks of a matrix processed in threads (numpy sorts and long-double sums release the
GIL), as many threads as numba uses for the compiled kernels."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba


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
