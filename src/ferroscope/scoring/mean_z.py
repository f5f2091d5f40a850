r"""Mean of z-scored genes.

Each gene is standardised across the samples of the cohort,
:math:`z_{gj} = (x_{gj} - \bar x_g) / s_g` (sample standard deviation, ddof = 1), and a set's
score is the mean over its genes present in the cohort:

.. math:: S_j = \frac{1}{n} \sum_{g \in S} z_{gj}

Scores are therefore relative to the cohort (mean 0 by construction) and comparable only within
it. This is the unweighted form of the combined z-score of Lee E et al. (2008) PLoS Comput Biol
4:e1000217, which multiplies by :math:`\sqrt{n}`.

**Missing values** (NaN cells): a gene's mean and s.d. use its measured samples. ``everything``
gives NaN in a sample where a member is missing; ``na.rm`` averages the measured members, NaN
when fewer than ``min_size`` are measured in that sample.
"""

from __future__ import annotations

import numpy as np

from ._base import DEFAULT_RUN, NO_SETTINGS, Method, Run, Settings
from ._zscores import set_sum, standardise


def score(x: np.ndarray, sets: list[np.ndarray], settings: Settings = NO_SETTINGS,
          run: Run = DEFAULT_RUN) -> np.ndarray:
    """Mean z-score per set, shape (len(sets), samples)."""
    needed = np.unique(np.concatenate(sets)) if sets else np.array([], dtype=int)
    z = standardise(x[needed].astype(np.float64))
    where = {g: i for i, g in enumerate(needed)}
    out = np.empty((len(sets), x.shape[1]))
    for i, idx in enumerate(sets):
        total, k = set_sum(z[[where[g] for g in idx]], run.missing, run.min_size)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[i] = total / k
    return out


#: this method's registry entry (collected in :data:`ferroscope.scoring.METHODS`)
METHOD = Method("mean_z", score, single_sample=False, settings=Settings,
                summary="mean of genes z-scored across the cohort's samples",
                reference="Lee 2008 PLoS Comput Biol (unweighted combined z)")
