"""Gene z-scores across samples and a set's sum of them under the missing-value policy: the
block shared by z-score, mean_z and PLAGE."""

from __future__ import annotations

import numpy as np


def standardise(x: np.ndarray) -> np.ndarray:
    """Genes z-scored across samples (R's ``t(scale(t(x)))``, sample s.d., ddof = 1); mean and
    s.d. over the measured samples when cells are missing (NaN stays NaN)."""
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
