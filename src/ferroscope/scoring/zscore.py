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

from ._base import DEFAULT_RUN, NO_SETTINGS, Method, Run, Settings
from ._filters import drop_constant
from ._zscores import set_sum, standardise


def score(x: np.ndarray, sets: list[np.ndarray], settings: Settings = NO_SETTINGS,
          run: Run = DEFAULT_RUN) -> np.ndarray:
    """Combined z-scores, shape (len(sets), samples)."""
    x, sets = drop_constant(np.asarray(x, dtype=np.float64), sets)
    z = standardise(x)
    out = np.full((len(sets), x.shape[1]), np.nan)
    for i, idx in enumerate(sets):
        if len(idx):
            total, k = set_sum(z[idx], run.missing, run.min_size)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[i] = total / np.sqrt(k)
    return out


#: this method's registry entry (collected in :data:`ferroscope.scoring.METHODS`)
METHOD = Method("zscore", score, single_sample=False, settings=Settings,
                summary="combined z-score: sum of gene z-scores / sqrt(k)",
                reference="Lee 2008 PLoS Comput Biol")
