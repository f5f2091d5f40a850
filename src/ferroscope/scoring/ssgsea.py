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

Ranks and positions are computed once per sample and shared by all sets, so the cost is one sort
per sample (numpy's argsort, samples split over threads) plus a linear pass and
:math:`O(\sum_S |S|)` (numba, parallel over samples), in chunks of ``scoring.chunk_size``
samples to bound memory.

**Missing values** (NaN cells; R GSVA 2.x ``use``): ranks are computed among the sample's
measured genes. ``na.rm`` removes the missing genes from that sample's ranking (:math:`N` is
the number of measured genes), drops missing members and gives NaN when fewer than
``min_size`` members remain. ``everything`` keeps the missing genes in the walk after the
measured ones (:math:`N` counts all genes, as R's ``order(na.last = TRUE)``) and gives NaN when
a member is missing in that sample. The normalisation range ignores NaN scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from ._base import DEFAULT_RUN, Method, Run, Settings
from ._ranking import row_orders
from ._sets import SetIndex
from ._threads import transposed


@dataclass(frozen=True)
class SsgseaSettings(Settings):
    """``scoring.ssgsea``: R GSVA's ``ssgseaParam`` (``alpha``, ``normalize``)."""

    alpha: float = field(default=0.25, metadata={"minimum": 0})
    normalize: bool = True


#: the defaults (a method called without settings)
DEFAULTS = SsgseaSettings()


@numba.njit(parallel=True, cache=True, nogil=True)
def _es(xt: np.ndarray, orders: np.ndarray, flat: np.ndarray, offsets: np.ndarray,
        alpha: float, na_rm: bool, min_size: int) -> np.ndarray:
    """ES for every set (rows) and sample (columns); xt is samples x genes, NaN = missing;
    orders[j] = argsort(xt[j]) with ties in any order and NaN last."""
    n_samples, n_genes = xt.shape
    n_sets = offsets.shape[0] - 1
    out = np.empty((n_sets, n_samples))
    for j in numba.prange(n_samples):
        col = xt[j]
        order = orders[j]  # any order within ties: fixed below; NaN last
        m = n_genes
        while m > 0 and np.isnan(col[order[m - 1]]):
            m -= 1
        # na.rm: the sample's ranking holds its m measured genes only; everything: the
        # missing genes stay in the walk, after the measured ones
        n_walk = m if na_rm else n_genes
        weight = np.full(n_genes, np.nan)
        tail = np.full(n_genes, np.nan)
        a = 0
        while a < m:
            b = a
            while b + 1 < m and col[order[b + 1]] == col[order[a]]:
                b += 1
            if b > a:  # ties: R keeps them in input order, so sort the group by gene index
                order[a:b + 1] = np.sort(order[a:b + 1])
            w = np.floor((a + b) / 2.0 + 1.0)  # as.integer(rank(x)), average ties; ^alpha
            for q in range(a, b + 1):          # is taken for set members only, below
                g = order[q]
                weight[g] = w
                # 1-based position in decreasing order, ties in input order: m - b + (q - a)
                tail[g] = n_walk + 1 - (m - b + (q - a))
            a = b + 1
        total_tail = n_walk * (n_walk + 1) / 2.0
        for s in range(n_sets):
            lo, hi = offsets[s], offsets[s + 1]
            sw = 0.0
            swt = 0.0
            st = 0.0
            k = 0
            missing = False
            for q in range(lo, hi):
                g = flat[q]
                if np.isnan(weight[g]):
                    missing = True
                    continue
                w = weight[g] ** alpha
                sw += w
                swt += w * tail[g]
                st += tail[g]
                k += 1
            if (missing and (not na_rm or k < min_size)) or k == 0 or k == n_walk:
                out[s, j] = np.nan
            else:
                out[s, j] = swt / sw - (total_tail - st) / (n_walk - k)
    return out


def score(x: np.ndarray, sets: list[np.ndarray], settings: SsgseaSettings = DEFAULTS,
          run: Run = DEFAULT_RUN) -> np.ndarray:
    """Unnormalised ssGSEA enrichment scores, shape (len(sets), samples) (the normalisation,
    :func:`normalise`, runs once over all chunks of samples)."""
    index = SetIndex.of(sets)
    xt = transposed(np.asarray(x, dtype=np.float64))
    orders = row_orders(xt)  # numpy's SIMD argsort in threads (~4x numba's)
    return _es(xt, orders, index.flat, index.offsets, float(settings.alpha), run.na_rm,
               int(run.min_size))


def normalise(es: np.ndarray, settings: SsgseaSettings) -> np.ndarray:
    """GSVA's ssGSEA normalisation: divide by the range of all (non-missing) scores."""
    if not settings.normalize or not np.isfinite(es).any():
        return es
    span = np.nanmax(es) - np.nanmin(es)
    return es / span if span > 0 else es


#: this method's registry entry (collected in :data:`ferroscope.scoring.METHODS`)
METHOD = Method("ssgsea", score, single_sample=True, settings=SsgseaSettings, post=normalise,
                summary="single-sample GSEA (rank-weighted random walk), GSVA-style",
                reference="Barbie 2009 Nature; Hänzelmann 2013 BMC Bioinformatics")
