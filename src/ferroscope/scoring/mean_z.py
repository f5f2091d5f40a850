r"""Mean of z-scored genes.

Each gene is standardised across the samples of the cohort,
:math:`z_{gj} = (x_{gj} - \bar x_g) / s_g` (sample standard deviation, ddof = 1), and a set's
score is the mean over its genes present in the cohort:

.. math:: S_j = \frac{1}{n} \sum_{g \in S} z_{gj}

Scores are therefore relative to the cohort (mean 0 by construction) and comparable only within
it. This is the unweighted form of the combined z-score of Lee E et al. (2008) PLoS Comput Biol
4:e1000217, which multiplies by :math:`\sqrt{n}`.
"""

from __future__ import annotations

import numpy as np


def score(x: np.ndarray, sets: list[np.ndarray], **_: object) -> np.ndarray:
    """Mean z-score per set, shape (len(sets), samples)."""
    needed = np.unique(np.concatenate(sets)) if sets else np.array([], dtype=int)
    sub = x[needed].astype(np.float64)
    mean = sub.mean(axis=1, keepdims=True)
    sd = sub.std(axis=1, ddof=1, keepdims=True)
    z = (sub - mean) / sd
    where = {g: i for i, g in enumerate(needed)}
    out = np.empty((len(sets), x.shape[1]))
    for i, idx in enumerate(sets):
        out[i] = z[[where[g] for g in idx]].mean(axis=0)
    return out
