r"""Single-sample GSEA (ssGSEA), as implemented in R GSVA (``method = "ssgsea"``).

Reference: Barbie DA et al. (2009) Nature 462:108-112; implementation of Hänzelmann S, Castelo R,
Guinney J (2013) BMC Bioinformatics 14:7 (GSVA 1.46, ``.ssgsea`` / ``.rndWalk``).

For sample :math:`j`, genes are ranked by expression, :math:`r_g` = ``as.integer(rank(x))``
(average ranks for ties, truncated as R does), and ordered by decreasing :math:`r_g` (ties keep
their original order). With :math:`p_g` the 1-based position of gene :math:`g` in that order,
:math:`N` genes and a set :math:`S` of :math:`n` genes, the random walk

.. math::

   ES_j(S) = \sum_{k=1}^{N} \Big[\frac{\sum_{g \in S, p_g \le k} r_g^{\alpha}}
   {\sum_{g \in S} r_g^{\alpha}} - \frac{\#\{g \notin S, p_g \le k\}}{N - n}\Big]

sums to the closed form used here (no walk is materialised):

.. math::

   ES_j(S) = \frac{\sum_{g\in S} r_g^{\alpha}(N + 1 - p_g)}{\sum_{g\in S} r_g^{\alpha}}
           - \frac{N(N+1)/2 - \sum_{g\in S}(N + 1 - p_g)}{N - n}

With ``normalize = True`` (GSVA's default) every score is divided by the range
:math:`\max ES - \min ES` over all sets and samples of the run.

Ranks and positions are computed once per chunk of samples and shared by all sets, so the cost
is one sort per sample plus :math:`O(\sum_S |S|)` per sample.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def _positions(ranks: np.ndarray) -> np.ndarray:
    """1-based position of each gene when ordered by decreasing rank, ties in original order."""
    order = np.argsort(-ranks, axis=0, kind="stable")
    pos = np.empty_like(order)
    cols = np.arange(ranks.shape[1])
    pos[order, cols[None, :]] = np.arange(1, ranks.shape[0] + 1)[:, None]
    return pos


def score(x: np.ndarray, sets: list[np.ndarray], *, alpha: float = 0.25,
          **_: object) -> np.ndarray:
    """Unnormalised ssGSEA enrichment scores, shape (len(sets), samples)."""
    n_genes = x.shape[0]
    ranks = np.floor(rankdata(x, axis=0, method="average"))
    pos = _positions(ranks)
    weights = ranks ** alpha
    tail = (n_genes + 1 - pos).astype(np.float64)  # N + 1 - p_g
    total_tail = n_genes * (n_genes + 1) / 2.0
    out = np.empty((len(sets), x.shape[1]))
    for i, idx in enumerate(sets):
        w = weights[idx]
        t = tail[idx]
        inside = (w * t).sum(axis=0) / w.sum(axis=0)
        outside = (total_tail - t.sum(axis=0)) / (n_genes - len(idx))
        out[i] = inside - outside
    return out


def normalise(es: np.ndarray, params: dict) -> np.ndarray:
    """GSVA's ssGSEA normalisation: divide by the range of all scores of the run."""
    if not params.get("normalize", True):
        return es
    span = np.nanmax(es) - np.nanmin(es)
    return es / span if span > 0 else es
