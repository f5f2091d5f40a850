r"""Pathway level analysis of gene expression (PLAGE; Tomfohr J, Lu J, Kepler TB (2005) BMC
Bioinformatics 6:225), as in R GSVA 1.46 (``method = "plage"``).

Genes are z-scored across samples (ddof = 1); for a set, :math:`Z_S` (:math:`k` genes x
:math:`n` samples) is decomposed :math:`Z_S = U \Sigma V^T` and the score of sample :math:`j` is
the first right singular vector :math:`V_{j1}` (unit norm over the samples: scores are
relative to the cohort).

The sign of a singular vector is arbitrary (R's LAPACK and numpy may differ). ferroscope fixes
it so that the score correlates positively with the set's mean z-score, so that "high score"
means "set genes high" and hazard ratios have a stable direction. R's values therefore agree up
to sign.

**Missing values** (NaN cells): z-scores use each gene's measured samples. ``everything``: the
SVD runs on the samples where all members are measured; the others get NaN. ``na.rm``: a
missing z is set to 0 (the gene's mean) before the SVD; samples with fewer than ``min_size``
measured members get NaN.
"""

from __future__ import annotations

import numpy as np

from ._base import DEFAULT_RUN, NO_SETTINGS, Method, Run, Settings
from ._filters import drop_constant
from ._zscores import standardise


def score(x: np.ndarray, sets: list[np.ndarray], settings: Settings = NO_SETTINGS,
          run: Run = DEFAULT_RUN) -> np.ndarray:
    """PLAGE scores, shape (len(sets), samples)."""
    x, sets = drop_constant(np.asarray(x, dtype=np.float64), sets)
    z = standardise(x)
    out = np.full((len(sets), x.shape[1]), np.nan)
    for i, idx in enumerate(sets):
        if len(idx) == 0:
            continue
        zs = z[idx]
        gaps = np.isnan(zs)
        if not run.na_rm:
            cols = ~gaps.any(axis=0)
        else:
            cols = (~gaps).sum(axis=0) >= max(run.min_size, 1)
            zs = np.where(gaps, 0.0, zs)
        zs = zs[:, cols]
        if zs.shape[1] == 0:
            continue
        _, _, vt = np.linalg.svd(zs, full_matrices=False)
        v = vt[0]
        if np.dot(v, zs.mean(axis=0)) < 0:
            v = -v
        out[i, cols] = v
    return out


#: this method's registry entry (collected in :data:`ferroscope.scoring.METHODS`)
METHOD = Method("plage", score, single_sample=False, settings=Settings,
                summary="first right singular vector of the set's z-scored genes",
                reference="Tomfohr 2005 BMC Bioinformatics")
