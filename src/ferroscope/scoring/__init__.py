"""Gene-set scoring methods, one module each, registered in :data:`METHODS`.

Adding a method touches one file: write ``scoring/<name>.py`` with a ``score(x, sets, **params)``
function whose docstring carries the formula and reference, then add one line to ``METHODS``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import FerroscopeError
from ..genesets import GeneSet
from . import gsva, mean_z, peers, plage, singscore, ssgsea, zscore
from ._base import Method

log = logging.getLogger(__name__)

METHODS: dict[str, Method] = {
    "ssgsea": Method("ssgsea", ssgsea.score, single_sample=True, post=ssgsea.normalise,
                     summary="single-sample GSEA (rank-weighted random walk), GSVA-style",
                     reference="Barbie 2009 Nature; Hänzelmann 2013 BMC Bioinformatics"),
    "gsva": Method("gsva", gsva.score, single_sample=False,
                   summary="GSVA: kernel CDF per gene across samples, then a rank random walk",
                   reference="Hänzelmann 2013 BMC Bioinformatics (R GSVA 1.46 arithmetic)"),
    "singscore": Method("singscore", singscore.score, single_sample=True,
                        summary="scaled, centred mean rank of the set within each sample",
                        reference="Foroutan 2018 BMC Bioinformatics"),
    "zscore": Method("zscore", zscore.score, single_sample=False,
                     summary="combined z-score: sum of gene z-scores / sqrt(k)",
                     reference="Lee 2008 PLoS Comput Biol"),
    "plage": Method("plage", plage.score, single_sample=False,
                    summary="first right singular vector of the set's z-scored genes",
                    reference="Tomfohr 2005 BMC Bioinformatics"),
    "mean_z": Method("mean_z", mean_z.score, single_sample=False,
                     summary="mean of genes z-scored across the cohort's samples",
                     reference="Lee 2008 PLoS Comput Biol (unweighted combined z)"),
    # peers, for comparison runs and benchmarks (slow; not for production)
    "scanpy_score_genes": Method("scanpy_score_genes", peers.scanpy_score_genes,
                                 single_sample=False,
                                 summary="scanpy.tl.score_genes (set minus control genes)",
                                 reference="Satija 2015 Nat Biotechnol; scanpy"),
    "gseapy_ssgsea": Method("gseapy_ssgsea", peers.gseapy_ssgsea, single_sample=True,
                            summary="gseapy.ssgsea, unnormalised ES",
                            reference="Barbie 2009 Nature; gseapy"),
}


def constant_genes(expr: pd.DataFrame) -> list[str]:
    """Genes with zero variance across samples (they carry no information for any method)."""
    values = expr.to_numpy()
    return list(expr.index[np.nanmax(values, axis=1) == np.nanmin(values, axis=1)])


def check_matrix(expr: pd.DataFrame, source: str) -> None:
    """Refuse NaN/inf values, duplicated genes and all-equal samples, naming the first one."""
    if expr.index.has_duplicates:
        dup = expr.index[expr.index.duplicated()][0]
        raise FerroscopeError(f"gene '{dup}' appears more than once.", file=source,
                              fix="collapse duplicated genes in the prepare step.")
    values = expr.to_numpy()
    bad = ~np.isfinite(values)
    if bad.any():
        g, s = np.argwhere(bad)[0]
        raise FerroscopeError(
            f"non-finite value ({values[g, s]}) for gene '{expr.index[g]}' in sample "
            f"'{expr.columns[s]}'.", file=source,
            fix="remove or impute missing values before scoring.")
    flat = np.nanmax(values, axis=0) == np.nanmin(values, axis=0) if values.size else []
    if np.any(flat):
        sample = expr.columns[int(np.argmax(flat))]
        raise FerroscopeError(
            f"sample '{sample}' has the same value for every gene (a failed array or an "
            "empty library); no method can rank its genes.", file=source,
            fix="remove the sample from the expression matrix and the clinical table.")


def score_sets(expr: pd.DataFrame, sets: Sequence[GeneSet], method: str, *,
               params: dict | None = None, chunk_size: int = 1000) -> pd.DataFrame:
    """Score ``sets`` on ``expr`` (genes x samples) with a registered method.

    Genes of a set absent from ``expr`` are ignored (coverage is decided upstream). Returns a
    samples x sets DataFrame.
    """
    if method not in METHODS:
        raise FerroscopeError(f"unknown scoring method '{method}'.", field="scoring.methods",
                              fix=f"use one of {sorted(METHODS)}.")
    m = METHODS[method]
    params = dict(params or {})
    row = {g: i for i, g in enumerate(expr.index)}
    idx = [np.array([row[g] for g in gs.genes if g in row], dtype=np.intp) for gs in sets]
    empty = [gs.name for gs, ix in zip(sets, idx, strict=True) if len(ix) == 0]
    if empty:
        raise FerroscopeError(f"no genes of set(s) {empty} are in the matrix.",
                              fix="drop sets that fail the coverage check before scoring.")
    x = expr.to_numpy(dtype=np.float64, copy=False)
    n = x.shape[1]
    if m.single_sample and n > chunk_size:
        parts = []
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            log.info("%s: samples %d-%d of %d", method, start + 1, stop, n)
            parts.append(m.func(x[:, start:stop], idx, **params))
        out = np.concatenate(parts, axis=1)
    else:
        out = m.func(x, idx, **params, chunk_size=chunk_size)
    if m.post is not None:
        out = m.post(out, params)
    return pd.DataFrame(out.T, index=expr.columns, columns=[gs.name for gs in sets])
