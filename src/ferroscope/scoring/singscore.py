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

**Missing values** (NaN cells): a sample's ranking holds its measured genes only (:math:`N_j`
of them). ``everything`` gives NaN in a sample where a member is missing; ``na.rm`` averages
the measured members' ranks (:math:`k_j` of them, in the bounds too), NaN when :math:`k_j` <
``min_size``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._base import DEFAULT_RUN, Method, Run, Settings
from ._threads import over_row_blocks


@dataclass(frozen=True)
class SingscoreSettings(Settings):
    """``scoring.singscore``: R singscore's ``centerScore``."""

    center: bool = True


#: the defaults (a method called without settings)
DEFAULTS = SingscoreSettings()


def min_ranks(x: np.ndarray, genes: np.ndarray) -> np.ndarray:
    """Ranks (ties -> minimum, as R's ``rank(ties.method = "min")``) of the given genes within
    every sample, shape (len(genes), samples).

    The minimum rank of a value is 1 + the number of strictly smaller values in its sample, so
    each sample's values are sorted once (numpy's SIMD sort, samples split over threads) and
    only the set genes are looked up; no full rank matrix is built.
    """
    xt = np.ascontiguousarray(x.T)
    out = np.empty((len(genes), xt.shape[0]))

    def block(start: int, stop: int) -> None:
        part = np.sort(xt[start:stop], axis=1)
        for j in range(stop - start):
            out[:, start + j] = np.searchsorted(part[j], xt[start + j, genes], side="left") + 1

    over_row_blocks(xt.shape[0], block)
    return out


def score(x: np.ndarray, sets: list[np.ndarray],
          settings: SingscoreSettings = DEFAULTS, run: Run = DEFAULT_RUN) -> np.ndarray:
    """singscore per set and sample, shape (len(sets), samples)."""
    gaps = np.isnan(x)
    n_genes = (x.shape[0] - gaps.sum(axis=0)) if gaps.any() else np.full(x.shape[1],
                                                                          x.shape[0])
    union = np.unique(np.concatenate([np.asarray(i, dtype=np.int64) for i in sets] or
                                     [np.zeros(0, dtype=np.int64)]))
    ranks = min_ranks(x, union)  # row r holds gene union[r]
    if gaps.any():
        ranks[gaps[union]] = np.nan
    out = np.full((len(sets), x.shape[1]), np.nan)
    for i, idx in enumerate(sets):
        if len(idx) == 0:
            continue
        r = ranks[np.searchsorted(union, idx)]
        measured = ~np.isnan(r)
        if not run.na_rm or measured.all():
            k = np.full(x.shape[1], len(idx))
            mean_rank = r.mean(axis=0)
        else:
            k = measured.sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean_rank = np.where(measured, r, 0.0).sum(axis=0) / k
            mean_rank[k < max(run.min_size, 1)] = np.nan
        low = (k + 1) / 2.0
        high = (2 * n_genes - k + 1) / 2.0
        with np.errstate(invalid="ignore", divide="ignore"):
            out[i] = (mean_rank - low) / (high - low) - (0.5 if settings.center else 0.0)
    return out


#: this method's registry entry (collected in :data:`ferroscope.scoring.METHODS`)
METHOD = Method("singscore", score, single_sample=True, settings=SingscoreSettings,
                summary="scaled, centred mean rank of the set within each sample",
                reference="Foroutan 2018 BMC Bioinformatics")
