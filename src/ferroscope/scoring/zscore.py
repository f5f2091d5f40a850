r"""Combined z-score (Lee E, Chuang H-Y, Kim J-W, Ideker T, Kim S (2008) PLoS Comput Biol
4:e1000217), as in R GSVA 1.46 (``method = "zscore"``).

Each gene is standardised across the samples of the cohort,
:math:`z_{gj} = (x_{gj} - \bar x_g) / s_g` (sample s.d., ddof = 1), and a set of :math:`k`
genes scores

.. math:: Z_j = \frac{1}{\sqrt{k}} \sum_{g \in S} z_{gj}

so that, for independent genes, :math:`Z_j` is standard normal. It equals
:math:`\sqrt{k}` times ``mean_z``. Genes with s.d. below 1e-10 are dropped first, as in R.
"""

from __future__ import annotations

import numpy as np

from .gsva import drop_constant


def standardise(x: np.ndarray) -> np.ndarray:
    """Genes z-scored across samples (R's ``t(scale(t(x)))``)."""
    mean = x.mean(axis=1, keepdims=True)
    sd = x.std(axis=1, ddof=1, keepdims=True)
    return (x - mean) / sd


def score(x: np.ndarray, sets: list[np.ndarray], **_: object) -> np.ndarray:
    """Combined z-scores, shape (len(sets), samples)."""
    x, sets = drop_constant(np.asarray(x, dtype=np.float64), sets)
    z = standardise(x)
    out = np.full((len(sets), x.shape[1]), np.nan)
    for i, idx in enumerate(sets):
        if len(idx):
            out[i] = z[idx].sum(axis=0) / np.sqrt(len(idx))
    return out
