"""Gene-set scoring methods, one module each, registered in :data:`METHODS`.

A method module holds its formula and reference (module docstring), its settings (a frozen
:class:`Settings` dataclass: the keys of ``scoring.<name>`` in the config), a
``score(x, sets, settings, run)`` function and a ``METHOD = Method(...)`` entry. Method modules
import only the shared private blocks (``_base``, ``_ranking``, ``_filters``, ``_zscores``,
``_walk``, ``_kcdf``, ``_sets``, ``_threads``), never each other. docs/extending.md lists every
file a new method touches.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import FerroscopeError
from ..genesets import GeneSet
from . import gsva, mean_z, peers, plage, singscore, ssgsea, zscore
from ._base import MISSING, Method, Run, Settings

log = logging.getLogger(__name__)

#: every method by name, collected from the ``METHOD`` each method module declares
METHODS: dict[str, Method] = {
    m.name: m for m in (ssgsea.METHOD, gsva.METHOD, singscore.METHOD, zscore.METHOD,
                        plage.METHOD, mean_z.METHOD, *peers.METHODS)}

__all__ = ["METHODS", "Method", "Run", "Settings", "check_matrix", "method", "run_record",
           "score_sets", "set_rows", "settings", "unusable_genes"]


def method(name: str) -> Method:
    """The registered method ``name``; an unknown name stops, naming the registered ones."""
    if name not in METHODS:
        raise FerroscopeError(f"unknown scoring method '{name}'.", field="scoring.methods",
                              fix=f"use one of {', '.join(sorted(METHODS))}.")
    return METHODS[name]


def settings(name: str, given: Mapping[str, Any] | Settings | None = None) -> Settings:
    """The typed settings of method ``name`` from a mapping of its config keys (or settings
    already built): an unknown, misspelt or misplaced key, a wrong type or a value not allowed
    stops with the valid keys or values."""
    elsewhere: dict[str, list[str]] = {}
    for other in METHODS.values():
        if other.name != name:
            for key in other.settings.keys():
                elsewhere.setdefault(key, []).append(other.name)
    return method(name).settings.of(given, name, elsewhere)


def unusable_genes(expr: pd.DataFrame) -> dict[str, str]:
    """Genes no method can use, with the reason: the one definition of a "constant gene".

    A gene with no finite value in the cohort ("no finite value"), or with the same value in every
    sample where it is measured, including a gene measured in one sample only ("constant across
    samples"), carries no information for any method. The coverage step counts these genes as
    missing, the score and signature steps leave them out. (GSVA's own filter,
    :func:`ferroscope.scoring._filters.drop_constant`, is part of that method's R arithmetic.)
    """
    x = expr.to_numpy(dtype=np.float64)
    finite = np.isfinite(x)
    n_finite = finite.sum(axis=1)
    hi = np.where(finite, x, -np.inf).max(axis=1, initial=-np.inf)
    lo = np.where(finite, x, np.inf).min(axis=1, initial=np.inf)
    out: dict[str, str] = {}
    for g, n, h, low in zip(expr.index, n_finite, hi, lo, strict=True):
        if n == 0:
            out[str(g)] = "no finite value"
        elif n < 2 or h == low:
            out[str(g)] = "constant across samples"
    return out


def check_matrix(expr: pd.DataFrame, source: str) -> None:
    """Refuse infinite values, duplicated genes, all-equal and all-missing samples, naming
    the first one. Missing cells (NaN) are allowed: ``scoring.missing`` decides what they do."""
    if expr.index.has_duplicates:
        dup = expr.index[expr.index.duplicated()][0]
        raise FerroscopeError(f"gene '{dup}' appears more than once.", file=source,
                              fix="collapse duplicated genes in the prepare step.")
    values = expr.to_numpy(dtype=np.float64)
    if not values.size:
        return
    if np.isfinite(values).all():  # the common case: one pass, no temporaries
        flat = values.min(axis=0) == values.max(axis=0)
        if np.any(flat):
            _flat_sample(expr, int(np.argmax(flat)), source)
        return
    bad = np.isinf(values)
    if bad.any():
        g, s = np.argwhere(bad)[0]
        raise FerroscopeError(
            f"infinite value ({values[g, s]}) for gene '{expr.index[g]}' in sample "
            f"'{expr.columns[s]}'.", file=source,
            fix="fix the value in the input (e.g. log of 0) or set it missing (NaN).")
    measured = ~np.isnan(values)
    empty = ~measured.any(axis=0)
    if empty.any():
        sample = expr.columns[int(np.argmax(empty))]
        raise FerroscopeError(
            f"sample '{sample}' has no measured value (every gene is missing).", file=source,
            fix="remove the sample from the expression matrix and the clinical table.")
    lo = np.where(measured, values, np.inf).min(axis=0)
    hi = np.where(measured, values, -np.inf).max(axis=0)
    flat = lo == hi
    if np.any(flat):
        _flat_sample(expr, int(np.argmax(flat)), source)


def _flat_sample(expr: pd.DataFrame, column: int, source: str) -> None:
    raise FerroscopeError(
        f"sample '{expr.columns[column]}' has the same value for every gene (a failed array or "
        "an empty library); no method can rank its genes.", file=source,
        fix="remove the sample from the expression matrix and the clinical table.")


def set_rows(expr_index: pd.Index, sets: Sequence[GeneSet], *,
             keep_duplicates: bool = False) -> list[np.ndarray]:
    """Row indices of each set's genes present in the matrix, each gene once (R 2.x), or with
    the duplicates recorded on the GeneSet counted again (``keep_duplicates``, GSVA 1.46)."""
    row = {g: i for i, g in enumerate(expr_index)}
    out = []
    for gs in sets:
        genes = list(dict.fromkeys(gs.genes))
        if keep_duplicates:
            genes += list(gs.duplicates)
        out.append(np.array([row[g] for g in genes if g in row], dtype=np.intp))
    return out


def score_sets(expr: pd.DataFrame, sets: Sequence[GeneSet], method_name: str, *,
               params: Mapping[str, Any] | Settings | None = None, chunk_size: int = 1000,
               missing: str = "na.rm", min_size: int = 1, log_transformed: bool = False,
               info: dict | None = None, cohort: str = "") -> pd.DataFrame:
    """Score ``sets`` on ``expr`` (genes x samples, NaN = missing) with a registered method.

    ``params``: the method's settings, a mapping of the keys of ``scoring.<method>`` or the
    method's :class:`Settings`; an unknown, misspelt or misplaced key stops naming the valid
    ones. Genes of a set absent from ``expr`` are ignored (coverage is decided upstream) and each
    gene counts once (a method whose settings say :meth:`Settings.counts_duplicates`, GSVA
    with ``compat: "1.46"``, counts recorded duplicates again, as R 1.46 did). ``missing``
    ("na.rm" or "everything"), ``min_size`` (the fewest measured members a score needs under
    na.rm), ``chunk_size`` and ``log_transformed`` (the prepare step log-transformed the
    cohort) go to every method as a :class:`Run`; ``info`` (a dict) receives what the method
    reports (GSVA: the kernel and why). Returns a samples x sets DataFrame.
    """
    m = method(method_name)
    opts = settings(method_name, params)
    if missing not in MISSING:
        raise FerroscopeError(f"unknown missing-value policy '{missing}'.",
                              field="scoring.missing", fix="use 'na.rm' or 'everything'.")
    if not sets:
        where = f" in cohort {cohort}" if cohort else ""
        raise FerroscopeError(
            f"no set could be scored{where}: no gene set passed the coverage check.",
            field="genesets.min_genes",
            fix="lower genesets.min_genes or genesets.min_coverage in config/config.yaml, or "
                "check that the cohort's gene identifiers are HGNC symbols (see coverage.tsv).")
    idx = set_rows(expr.index, sets, keep_duplicates=opts.counts_duplicates())
    empty = [gs.name for gs, ix in zip(sets, idx, strict=True) if len(ix) == 0]
    if empty:
        raise FerroscopeError(f"no genes of set(s) {empty} are in the matrix.",
                              fix="drop sets that fail the coverage check before scoring.")
    x = expr.to_numpy(dtype=np.float64, copy=False)
    n = x.shape[1]
    run = Run(missing=missing, min_size=min_size, chunk_size=chunk_size,
              log_transformed=log_transformed, info=info)
    try:
        if m.single_sample and n > chunk_size:
            parts = []
            for start in range(0, n, chunk_size):
                stop = min(start + chunk_size, n)
                log.info("%s: samples %d-%d of %d", method_name, start + 1, stop, n)
                parts.append(m.func(x[:, start:stop], idx, opts, run))
            out = np.concatenate(parts, axis=1)
        else:
            out = m.func(x, idx, opts, run)
    except ValueError as err:  # a method's refusal of its input (e.g. compat 1.46 with NaN)
        raise FerroscopeError(f"{method_name}: {err}.", field=f"scoring.{method_name}",
                              fix="change the setting named in the message.") from err
    if m.post is not None:
        out = m.post(out, opts)
    return pd.DataFrame(out.T, index=expr.columns, columns=[gs.name for gs in sets])


def run_record(expr: pd.DataFrame, scores: pd.DataFrame, method: str, *, cohort: str,
               missing: str, info: dict | None = None,
               sets: Sequence[GeneSet] = ()) -> dict:
    """What one scoring run did, for the JSON sidecar beside the score table and the report:
    matrix size, missing cells (all genes, and set members only), NA scores, the policy, and
    for GSVA the kernel used and why."""
    values = expr.to_numpy(dtype=np.float64)
    members = expr.index.isin({g for gs in sets for g in gs.genes})
    rec = {
        "cohort": cohort, "method": method, "n_genes": int(values.shape[0]),
        "n_samples": int(values.shape[1]), "missing_policy": missing,
        "missing_cells": int(np.isnan(values).sum()),
        "missing_member_cells": int(np.isnan(values[members]).sum()),
        "n_scores": int(scores.size), "na_scores": int(scores.isna().to_numpy().sum()),
        "duplicates_removed": {gs.name: list(gs.duplicates) for gs in sets if gs.duplicates},
    }
    if info:
        rec.update({k: v for k, v in info.items() if isinstance(v, str | int | float | bool)})
    return rec
