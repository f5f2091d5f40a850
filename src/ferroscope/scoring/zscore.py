r"""Combined z-score (Lee E, Chuang H-Y, Kim J-W, Ideker T, Kim S (2008) PLoS Comput Biol
4:e1000217), as in R GSVA 1.46 (``method = "zscore"``).

Each gene is standardised across the samples of the cohort,
:math:`z_{gj} = (x_{gj} - \bar x_g) / s_g` (sample s.d., ddof = 1), and a set of :math:`k`
genes scores

.. math:: Z_j = \frac{1}{\sqrt{k}} \sum_{g \in S} z_{gj}

so that, for independent genes, :math:`Z_j` is standard normal. It equals
:math:`\sqrt{k}` times ``mean_z``. Genes with s.d. below 1e-10 are dropped first, as in R.

**Missing values** (NaN cells): a gene's mean and s.d. use its measured samples. ``everything``
gives NaN in a sample where a member is missing; ``na.rm`` sums the measured members' z and
divides by the square root of their number :math:`k_j`, NaN when :math:`k_j` < ``min_size``.
"""

from __future__ import annotations

import numpy as np

from ._base import Method
from .gsva import drop_constant


def standardise(x: np.ndarray) -> np.ndarray:
    """Genes z-scored across samples (R's ``t(scale(t(x)))``); mean and s.d. over the
    measured samples when cells are missing (NaN stays NaN)."""
    if np.isnan(x).any():
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.nanmean(x, axis=1, keepdims=True)
            sd = np.nanstd(x, axis=1, ddof=1, keepdims=True)
            return (x - mean) / sd
    mean = x.mean(axis=1, keepdims=True)
    sd = x.std(axis=1, ddof=1, keepdims=True)
    return (x - mean) / sd


def set_sum(z: np.ndarray, missing: str, min_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum of a set's z over its members per sample and the number of members counted, with
    the missing-value policy applied (NaN where the policy gives no score)."""
    gaps = np.isnan(z)
    if not gaps.any() or missing == "everything":
        return z.sum(axis=0), np.full(z.shape[1], z.shape[0])
    k = (~gaps).sum(axis=0)
    total = np.where(gaps, 0.0, z).sum(axis=0)
    return np.where(k >= max(min_size, 1), total, np.nan), k


def score(x: np.ndarray, sets: list[np.ndarray], *, missing: str = "na.rm", min_size: int = 1,
          **_: object) -> np.ndarray:
    """Combined z-scores, shape (len(sets), samples)."""
    x, sets = drop_constant(np.asarray(x, dtype=np.float64), sets)
    z = standardise(x)
    out = np.full((len(sets), x.shape[1]), np.nan)
    for i, idx in enumerate(sets):
        if len(idx):
            total, k = set_sum(z[idx], missing, min_size)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[i] = total / np.sqrt(k)
    return out


#: this method's registry entry (collected in :data:`ferroscope.scoring.METHODS`)
METHOD = Method("zscore", score, single_sample=False,
                summary="combined z-score: sum of gene z-scores / sqrt(k)",
                reference="Lee 2008 PLoS Comput Biol")
