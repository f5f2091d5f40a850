"""Peer implementations reachable as scoring back-ends, for comparison runs and benchmarks.

``scanpy_score_genes``: ``scanpy.tl.score_genes`` (Satija 2015 / Tirosh 2016: mean of the set
minus the mean of expression-matched control genes; random controls, ``random_state = 0``).
``gseapy_ssgsea``: ``gseapy.ssgsea`` (unnormalised ES, ``sample_norm_method = "rank"``).
Both are slower than the native methods and are not meant for production runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._base import DEFAULT_RUN, NO_SETTINGS, Method, Run, Settings


@dataclass(frozen=True)
class GseapySettings(Settings):
    """``scoring.gseapy_ssgsea``: gseapy's ``threads``."""

    threads: int = field(default=1, metadata={"minimum": 1})


#: the defaults (a method called without settings)
DEFAULTS = GseapySettings()


def _names(n: int) -> list[str]:
    return [f"g{i}" for i in range(n)]


def scanpy_score_genes(x: np.ndarray, sets: list[np.ndarray], settings: Settings = NO_SETTINGS,
                       run: Run = DEFAULT_RUN) -> np.ndarray:
    """scanpy.tl.score_genes per set (no missing-value policy: scanpy has none)."""
    import anndata as ad
    import scanpy as sc

    genes = _names(x.shape[0])
    adata = ad.AnnData(np.ascontiguousarray(x.T, dtype=np.float64))
    adata.var_names = genes
    out = np.empty((len(sets), x.shape[1]))
    for i, idx in enumerate(sets):
        sc.tl.score_genes(adata, [genes[g] for g in idx], score_name="s", random_state=0)
        out[i] = adata.obs["s"].to_numpy()
    return out


def gseapy_ssgsea(x: np.ndarray, sets: list[np.ndarray],
                  settings: GseapySettings = DEFAULTS, run: Run = DEFAULT_RUN) -> np.ndarray:
    """gseapy.ssgsea's unnormalised ES per set and sample."""
    import gseapy

    genes = _names(x.shape[0])
    df = pd.DataFrame(x, index=genes, columns=[f"s{j}" for j in range(x.shape[1])])
    gmt = {f"set{i}": [genes[g] for g in idx] for i, idx in enumerate(sets)}
    res = gseapy.ssgsea(data=df, gene_sets=gmt, outdir=None, sample_norm_method="rank",
                        min_size=1, max_size=100000, threads=settings.threads, no_plot=True,
                        verbose=False)
    es = res.res2d.pivot(index="Term", columns="Name", values="ES").astype(float)
    return es.loc[list(gmt), df.columns].to_numpy()


#: the peers' registry entries (comparison runs and benchmarks; slow, not for production)
METHODS = (
    Method("scanpy_score_genes", scanpy_score_genes, single_sample=False,
           summary="scanpy.tl.score_genes (set minus control genes)",
           reference="Satija 2015 Nat Biotechnol; scanpy"),
    Method("gseapy_ssgsea", gseapy_ssgsea, single_sample=True, settings=GseapySettings,
           summary="gseapy.ssgsea, unnormalised ES", reference="Barbie 2009 Nature; gseapy"),
)
