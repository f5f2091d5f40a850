r"""singscore (Foroutan M, Bhuva DD, Lyu R, Horan K, Cursons J, Davis MJ (2018) BMC
Bioinformatics 19:404), unidirectional form of R singscore's ``simpleScore``.

Truly single-sample: within sample :math:`j`, genes are ranked in increasing expression
(ties get the minimum rank, R's ``ties.method = "min"``). For a set of :math:`k` genes among
:math:`N`, with mean rank :math:`\bar r_j`,

.. math::

   S_j = \frac{\bar r_j - (k + 1)/2}{(2N - k + 1)/2 - (k + 1)/2} - \tfrac12

the mean rank scaled between its smallest possible value (the set holds the :math:`k` lowest
ranks) and its largest (the :math:`k` highest), then centred (``centerScore = TRUE``), so
:math:`S_j \in [-0.5, 0.5]`. :math:`k` counts the set's genes present in the matrix (R counts
the whole signature, missing genes included, and warns).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def score(x: np.ndarray, sets: list[np.ndarray], *, center: bool = True,
          **_: object) -> np.ndarray:
    """singscore per set and sample, shape (len(sets), samples)."""
    n_genes = x.shape[0]
    ranks = rankdata(x, axis=0, method="min")
    out = np.full((len(sets), x.shape[1]), np.nan)
    for i, idx in enumerate(sets):
        k = len(idx)
        if k == 0:
            continue
        low = (k + 1) / 2.0
        high = (2 * n_genes - k + 1) / 2.0
        out[i] = (ranks[idx].mean(axis=0) - low) / (high - low) - (0.5 if center else 0.0)
    return out
