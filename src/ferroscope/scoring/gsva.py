r"""Gene set variation analysis (GSVA), as R GSVA 2.x computes it (``gsvaParam``), or as R GSVA
1.46 did (``compat = "1.46"``).

Reference: Hänzelmann S, Castelo R, Guinney J (2013) BMC Bioinformatics 14:7; the arithmetic
follows R GSVA's ``kernel_estimation.c``, ``ecdfvals.c`` and ``R/gsva.R`` (2.0) and 1.46's
``ks_test.c`` so that scores agree with R (tests/test_reference_gsva*.py).

**0. Which CDF** (:func:`resolve_kcdf`). ``kcdf = "auto"`` (R 2.x's default): the direct
empirical CDF ("none") with at least ``kcdf_none_min_samples`` (200) samples, else the Gaussian
kernel, or the Poisson kernel for integer data. The direct ECDF of gene :math:`g` in sample
:math:`j` is :math:`\#\{k: x_{gk} \text{ measured}, x_{gk} \le x_{gj}\} / n` with :math:`n`
counting all samples; only its rank within a sample matters, so ferroscope keeps the integer
count (one sort per gene) and orders a sample's genes by a histogram of counts instead of a
sort, ties by row order as R's ``colRanks(ties.method = "last")``.

**1. Kernel CDF per gene.** For gene :math:`g` with values :math:`x_1..x_n` over the samples,

.. math:: L_{gj} = \frac{1}{n}\sum_{i=1}^{n} K(x_j - x_i), \qquad
          r_{gj} = \log\frac{L_{gj}}{1 - L_{gj}}

Gaussian kernel (log-scale data, ``kcdf = "Gaussian"``): :math:`K(d) = \Phi(d / h)` with
bandwidth :math:`h = \mathrm{sd}(x)/4`, where, exactly as R, :math:`\Phi` is read from a table of
10,001 values on :math:`[0, 10]` indexed by ``(int)(|d/h| / 10 * 10000)`` (so the CDF is a step
function with steps of 0.001 s.d.), :math:`1 - \Phi` for negative :math:`d`, 0 / 1 beyond
:math:`\pm 10`. Poisson kernel (counts, ``kcdf = "Poisson"``): :math:`K = F_{Pois}(x_j;\,
x_i + 0.5)`.

**2. Rank score per sample.** Genes are ordered by decreasing :math:`r_{gj}` (ties in input
order); the gene at 1-based position :math:`q` of :math:`N` gets :math:`s = |N/2 - q + 1|`.

**3. Random walk per set** :math:`S` (:math:`k` genes): walking down the order, a gene in
:math:`S` adds :math:`s^\tau / \sum_{g\in S} s_g^\tau`, any other gene subtracts
:math:`1/(N-k)`. With :math:`E^+` the walk's maximum and :math:`E^-` its minimum (both
against 0), ``mx_diff = True`` gives :math:`E^+ + E^-` (difference of the extremes, GSVA's
default), ``mx_diff = False`` the extreme with the larger absolute value (classic maximum
deviation), ``abs_ranking = True`` :math:`E^+ - E^-`.

**Cost.** Step 1 is all-pairs per gene in every implementation (R, gseapy, decoupler): R's step
table makes the CDF a step function of the pair difference, so any approximation (windowed
erf, binning, FFT) changes the within-sample order of genes and with it the scores by up to
:math:`1/(N-k)`. ferroscope keeps the exact pair sum but visits each unordered pair once
(:math:`K(-d) = 1 - K(d)` holds exactly in R's table), in compiled code (numba) parallel over
genes; steps 2-3 are vectorised per chunk of samples in closed form (the walk's extremes sit just
after / just before set genes, so no walk of length :math:`N` is built).

Genes are filtered first: R 2.x drops genes whose measured values are all equal; 1.46 dropped
genes with standard deviation below 1e-10. Set members count once in 2.x; with ``compat =
"1.46"`` a member listed twice weighs twice in the walk's normaliser and in :math:`N - k`, as
1.46 did.

**Missing values** (NaN, R 2.x ``use``). ECDF: missing cells stay missing, the others' counts
ignore them. Kernels: ``na.rm`` estimates a gene from its measured samples (bandwidth from their
s.d., sum divided by their number); ``everything`` makes a gene with any missing cell missing in
every sample. Walk: a sample's :math:`m` measured genes take positions 1..m (rank statistic
:math:`|m/2 - q + 1|`), the missing genes follow, and the walk runs over all :math:`N` genes
(non-members step down by :math:`1/(N-k)`). ``everything``: NA where a member is missing;
``na.rm``: missing members dropped, NA when fewer than ``min_size`` remain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numba
import numpy as np

from ..errors import FerroscopeError
from ._base import DEFAULT_RUN, Method, Run, Settings
from ._filters import drop_constant, drop_flat
from ._kcdf import TABLE, bandwidths, ecdf_counts, gene_statistics, r_in_r_order
from ._ranking import row_orders
from ._sets import SetIndex
from ._threads import c_order, transposed
from ._walk import Statistic, sets_of_sample

#: R 2.x's kcdfNoneMinSampleSize: with at least this many samples ``auto`` uses the direct ECDF
KCDF_NONE_MIN_SAMPLES = 200
#: r values closer than this (relative) within a sample are recomputed in R's summation order
NEAR_TIE = 1e-9


@dataclass(frozen=True)
class GsvaSettings(Settings):
    """``scoring.gsva``: R GSVA's ``gsvaParam`` (names as in the config schema)."""

    kcdf: Literal["auto", "none", "Gaussian", "Poisson"] = "auto"
    kcdf_none_min_samples: int = field(default=KCDF_NONE_MIN_SAMPLES, metadata={"minimum": 1})
    compat: Literal["2.0", "1.46"] = "2.0"
    mx_diff: bool = True
    abs_ranking: bool = False
    tau: float = field(default=1.0, metadata={"minimum": 0})

    def __post_init__(self) -> None:  # R's validity check: settings that cannot go together
        if self.compat == "1.46" and self.kcdf == "none":
            raise FerroscopeError("kcdf 'none' does not exist in GSVA 1.46 (compat '1.46').",
                                  field="scoring.gsva.kcdf",
                                  fix="use auto, Gaussian or Poisson with compat '1.46', or "
                                      "compat '2.0' for the direct ECDF.")

    def counts_duplicates(self) -> bool:
        return self.compat == "1.46"

    @property
    def statistic(self) -> Statistic:
        return Statistic.of(self.mx_diff, self.abs_ranking)


#: the defaults (a method called without settings)
DEFAULTS = GsvaSettings()


@numba.njit(parallel=True, cache=True, nogil=True)
def _walk(rt: np.ndarray, orders: np.ndarray, flat: np.ndarray, offsets: np.ndarray,
          tau: float, stat: int, r2: bool, x: np.ndarray, bw: np.ndarray, table: np.ndarray,
          start: int, na_rm: bool, min_size: int) -> np.ndarray:
    """Walk statistics for every set and sample; rt is samples x genes (the r statistic, NaN
    where missing), orders[j] = argsort(-rt[j]) with ties in any order and NaN last.

    Near ties of r within a sample (closer than NEAR_TIE, relative) are recomputed in R's
    summation order before ranking when x is given (Gaussian kernel): genes whose r are equal in
    exact arithmetic (e.g. rows that are permutations of each other in integer data) are
    ordered by R's rounding noise, which summing as R does reproduces.
    """
    n_samples, n_genes = rt.shape
    n_sets = offsets.shape[0] - 1
    out = np.empty((n_sets, n_samples))
    for j in numba.prange(n_samples):
        col = rt[j]
        order = orders[j]
        m = 0
        for g in range(n_genes):
            if not np.isnan(col[g]):
                m += 1
        if x.shape[0] == n_genes:
            tied = False
            for q in range(m - 1):
                a, b = order[q], order[q + 1]
                if col[a] - col[b] <= NEAR_TIE * max(1.0, abs(col[a])):
                    col[a] = r_in_r_order(x[a], start + j, bw[a], table)
                    col[b] = r_in_r_order(x[b], start + j, bw[b], table)
                    tied = True
            if tied:
                order = np.argsort(-col)
        a = 0
        while a < m:  # R's order(decreasing = TRUE) keeps ties in input order
            b = a
            while b + 1 < m and col[order[b + 1]] == col[order[a]]:
                b += 1
            if b > a:
                order[a:b + 1] = np.sort(order[a:b + 1])
            a = b + 1
        pos = np.full(n_genes, -1, dtype=np.int64)
        for q in range(m):
            pos[order[q]] = q + 1
        sets_of_sample(pos, m, flat, offsets, tau, stat, r2, na_rm, min_size, out, j)
    return out


@numba.njit(parallel=True, cache=True, nogil=True)
def _walk_counts(ct: np.ndarray, n_values: int, flat: np.ndarray, offsets: np.ndarray,
                 tau: float, stat: int, r2: bool, na_rm: bool, min_size: int) -> np.ndarray:
    """Walk statistics from ECDF counts (samples x genes, -1 = missing, else 1..n_values).

    The decreasing order of a sample's genes, ties in row order (R's colRanks(ties.method =
    "last")), needs no sort: a gene with count c sits after every gene with a larger count
    and after the earlier genes with the same count, both read from a histogram of counts.
    """
    n_samples, n_genes = ct.shape
    n_sets = offsets.shape[0] - 1
    out = np.empty((n_sets, n_samples))
    for j in numba.prange(n_samples):
        col = ct[j]
        above = np.zeros(n_values + 2, dtype=np.int64)
        m = 0
        for g in range(n_genes):
            c = col[g]
            if c >= 0:
                above[c] += 1
                m += 1
        # above[c] <- number of genes with a count larger than c
        run = 0
        for c in range(n_values + 1, -1, -1):
            here = above[c]
            above[c] = run
            run += here
        pos = np.empty(n_genes, dtype=np.int64)
        for g in range(n_genes):
            c = col[g]
            if c >= 0:
                above[c] += 1  # this gene and the earlier ties now precede the next tie
                pos[g] = above[c]
            else:
                pos[g] = -1
        sets_of_sample(pos, m, flat, offsets, tau, stat, r2, na_rm, min_size, out, j)
    return out


def walk_scores(r: np.ndarray, sets: list[np.ndarray], settings: GsvaSettings, run: Run, *,
                x: np.ndarray | None = None, bw: np.ndarray | None = None) -> np.ndarray:
    """Steps 2-3 from the gene statistics r (genes x samples, NaN = missing); returns
    (sets x samples). With x (the Gaussian-kernel input), near ties are resolved as R would
    order them.
    """
    index = SetIndex.of(sets)
    if x is None:
        xx, bw = np.zeros((0, 1)), np.zeros(0)
    else:
        xx = np.ascontiguousarray(x, dtype=np.float64)
        bw = bandwidths(xx) if bw is None else bw
    parts = []
    for start in range(0, r.shape[1], run.chunk_size):
        rt = transposed(r[:, start:start + run.chunk_size])
        orders = row_orders(rt, descending=True)
        parts.append(_walk(rt, orders, index.flat, index.offsets, float(settings.tau),
                           int(settings.statistic), settings.compat != "1.46", xx, bw, TABLE,
                           start, run.na_rm, int(run.min_size)))
    return np.concatenate(parts, axis=1)


def ecdf_walk_scores(counts: np.ndarray, sets: list[np.ndarray], settings: GsvaSettings,
                     run: Run) -> np.ndarray:
    """Steps 2-3 from ECDF counts (see :func:`ferroscope.scoring._kcdf.ecdf_counts`);
    (sets x samples)."""
    index = SetIndex.of(sets)
    n_values = counts.shape[1]
    parts = []
    for start in range(0, counts.shape[1], run.chunk_size):
        ct = transposed(counts[:, start:start + run.chunk_size])
        parts.append(_walk_counts(ct, n_values, index.flat, index.offsets,
                                  float(settings.tau), int(settings.statistic),
                                  settings.compat != "1.46", run.na_rm, int(run.min_size)))
    return np.concatenate(parts, axis=1)


def is_integer_data(x: np.ndarray) -> bool:
    """ferroscope's stand-in for R's ``is.integer(expr[1, 1])``: every measured value is a
    non-negative whole number (counts). See :func:`resolve_kcdf`."""
    v = x[~np.isnan(x)] if np.isnan(x).any() else x
    return bool(v.size) and bool(np.all(v >= 0)) and bool(np.all(v == np.floor(v)))


def resolve_kcdf(x: np.ndarray, kcdf: str = "auto", *,
                 min_samples: int = KCDF_NONE_MIN_SAMPLES, integer: bool | None = None,
                 compat: str = "2.0") -> tuple[str, str]:
    """The kernel GSVA uses ("none", "Gaussian" or "Poisson") and why, as R 2.x decides it.

    ``auto`` (R 2.x's default): with at least ``min_samples`` samples (columns, missing cells
    included) the direct ECDF ("none"); below, Poisson for integer data and Gaussian otherwise.
    R calls data integer when the matrix is *stored* as integers; text and h5ad inputs carry no
    such type, so ferroscope calls data integer when ``integer`` says so or, when ``integer``
    is None, when every measured value is a non-negative whole number (:func:`score` passes
    ``integer = False`` for cohorts the prepare step log-transformed). Differences from R: a
    double matrix of whole numbers (e.g. rounded log values) is Gaussian in R but Poisson here
    unless it was log-transformed by prepare; an integer-typed matrix with negative values is
    Poisson in R but Gaussian here. With ``compat = "1.46"`` ``auto`` means Gaussian (R 1.46's
    default) and "none" does not exist.
    """
    n = x.shape[1]
    if compat == "1.46":
        if kcdf == "none":
            raise ValueError("kcdf 'none' does not exist in GSVA 1.46 (compat = '1.46')")
        if kcdf == "auto":
            return "Gaussian", "compat 1.46: GSVA 1.46's default kernel"
        return kcdf, "set in the config (compat 1.46)"
    if kcdf != "auto":
        return kcdf, "set in the config (scoring.gsva.kcdf)"
    if n >= min_samples:
        return "none", f"auto: {n} samples >= {min_samples} (kcdf_none_min_samples)"
    integer = is_integer_data(x) if integer is None else integer
    if integer:
        return "Poisson", (f"auto: {n} samples < {min_samples} and integer data (all values "
                           "non-negative whole numbers, not log-transformed)")
    return "Gaussian", f"auto: {n} samples < {min_samples} and non-integer data"


def score(x: np.ndarray, sets: list[np.ndarray], settings: GsvaSettings = DEFAULTS,
          run: Run = DEFAULT_RUN) -> np.ndarray:
    """GSVA enrichment scores, shape (len(sets), samples); NaN cells are missing values.

    ``run.info`` (a dict), when given, receives the kernel used and the reason. Whether the
    data count as integer for ``kcdf = "auto"`` is decided here: not when the prepare step
    log-transformed the cohort (``run.log_transformed``), else by the values
    (:func:`resolve_kcdf`).
    """
    x = np.asarray(x, dtype=np.float64)
    has_nan = bool(np.isnan(x).any())
    compat146 = settings.compat == "1.46"
    if compat146 and has_nan:
        raise ValueError("GSVA 1.46 has no missing-value policy (compat = '1.46')")
    kernel, reason = resolve_kcdf(x, settings.kcdf, min_samples=settings.kcdf_none_min_samples,
                                  integer=False if run.log_transformed else None,
                                  compat=settings.compat)
    if run.info is not None:
        run.info.update(kcdf=kernel, kcdf_reason=reason)
    x, sets = (drop_constant if compat146 else drop_flat)(x, sets)
    if kernel == "none":
        return ecdf_walk_scores(ecdf_counts(x), sets, settings, run)
    if kernel != "Gaussian":
        return walk_scores(gene_statistics(x, kernel, missing=run.missing), sets, settings, run)
    x = c_order(x)
    bw = bandwidths(x)
    r = gene_statistics(x, kernel, bw, missing=run.missing)
    return walk_scores(r, sets, settings, run, x=x, bw=bw)


#: this method's registry entry (collected in :data:`ferroscope.scoring.METHODS`)
METHOD = Method("gsva", score, single_sample=False, settings=GsvaSettings,
                summary="GSVA: CDF per gene across samples (direct ECDF or kernel, R 2.x kcdf "
                        "rule), then a rank random walk",
                reference="Hänzelmann 2013 BMC Bioinformatics (R GSVA 2.x arithmetic; 1.46 with "
                          "scoring.gsva.compat)")
