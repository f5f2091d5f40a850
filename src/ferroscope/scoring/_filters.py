"""Gene filters applied by a method before scoring, as R GSVA does: 1.46's ``.filterFeatures``
(s.d. below 1e-10; GSVA ``compat: "1.46"``, z-score, PLAGE) and 2.x's ``.filterGenes`` (all
measured values equal; GSVA 2.x). Both remove the rows and remap the sets' row indices.

(:func:`ferroscope.scoring.unusable_genes` is the workflow's own filter, applied before every
method; these reproduce R's arithmetic inside the methods that have one.)
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

#: R 1.46's .filterFeatures threshold on a gene's standard deviation
MIN_SD = 1e-10


def drop_constant(x: np.ndarray, sets: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """R 1.46's .filterFeatures: rows with sd < 1e-10 are removed and set indices remapped
    (sd over the measured samples when values are missing)."""
    with np.errstate(invalid="ignore"):
        sd = (np.nanstd(x, axis=1, ddof=1) if np.isnan(x).any() else x.std(axis=1, ddof=1))
    return _keep_rows(x, sets, sd >= MIN_SD)


def drop_flat(x: np.ndarray, sets: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """R 2.x's .filterGenes: rows whose measured values are all equal (min == max), or that
    have no measured value, are removed and set indices remapped."""
    if np.isnan(x).any():
        measured = ~np.isnan(x)
        lo = np.where(measured, x, np.inf).min(axis=1)
        hi = np.where(measured, x, -np.inf).max(axis=1)
        keep = measured.any(axis=1) & (hi > lo)
    else:
        keep = x.max(axis=1) > x.min(axis=1) if x.shape[1] else np.zeros(x.shape[0], bool)
    return _keep_rows(x, sets, keep)


def _keep_rows(x: np.ndarray, sets: list[np.ndarray],
               keep: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    if keep.all():
        return x, sets
    log.warning("%d genes with constant values are discarded", int((~keep).sum()))
    new_index = np.cumsum(keep) - 1
    return x[keep], [new_index[idx[keep[idx]]] for idx in sets]
