"""Prepare: raw expression + clinical table -> AnnData and the standard clinical table.

The step reads the matrix (:mod:`ferroscope.expression`: names, missing values, scale and
plausible values, duplicated genes) and the clinical table (:mod:`ferroscope.clinical`: the
strict mapping to the standard columns), then joins them on sample id
(:func:`build_anndata`): matrix columns without a clinical row are kept with empty clinical
fields, clinical rows without a matrix column are counted, and ids that would match only under
a rule (case, a prefix or suffix) stop the run listing the pairs. What was done is stored in
``uns`` (:mod:`ferroscope.uns`) and shown in the report.
"""

from __future__ import annotations

import logging
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from .clinical import MISSING_TOKENS, standardise_clinical
from .errors import FerroscopeError
from .expression import (
    PLAUSIBLE_RANGE,
    SCALE_MEANING,
    check_plausible,
    excel_mangled,
    guess_scale,
    harmonise_expression,
    read_expression,
)
from .io import atomic_path, first_infinite
from .uns import PreparedUns, PrepareNotes

__all__ = ["MISSING_TOKENS", "PLAUSIBLE_RANGE", "SCALE_MEANING", "PrepareNotes",
           "build_anndata", "check_plausible", "excel_mangled", "guess_scale",
           "harmonise_expression", "match_samples", "near_matches", "read_expression",
           "standardise_clinical",
           "write_h5ad"]

log = logging.getLogger(__name__)


def build_anndata(expr: pd.DataFrame, clinical: pd.DataFrame, notes: PrepareNotes, *,
                  cohort: str, source: str, provenance: dict[str, Any],
                  source_expression: str = "", clinical_mapping: list[dict[str, Any]] | None
                  = None, description: str = "", platform: str = "") -> ad.AnnData:
    """Join expression (genes x samples) and clinical on sample id; obs = samples.

    X is stored as float64 (the values as read, after the log step), so that scores computed
    from the h5ad equal those computed from the text matrix to the last bit. An infinite value
    (an ``inf`` cell, or a number beyond the float64 range) stops with a named error instead of
    travelling on as ``inf``. ``source_expression`` names the matrix file in that message.
    """
    clin = match_samples(expr.columns, clinical, notes, cohort=cohort, source=source)
    obs = clin.reindex(expr.columns)
    obs.index.name = "sample_id"
    for col in obs.columns:
        if obs[col].dtype == object:
            obs[col] = obs[col].fillna("").astype(str)
    values = expr.T.to_numpy(dtype=np.float64)
    hit = first_infinite(values)
    if hit:
        n, s, g = hit
        raise FerroscopeError(
            f"{n} expression value(s) are infinite after the scale step "
            f"(first: gene '{expr.index[g]}', sample '{expr.columns[s]}'): a value beyond the "
            "double-precision range (about 1.8e308) or an 'inf' in the file.",
            file=source_expression or _input_path(provenance, "expression") or source,
            field="expression_scale",
            fix="correct or remove that value in the expression matrix (a missing value is an "
                "empty cell, not inf).")
    # float64 end to end: float32 would move scores by up to 2e-4 against R (7 digits only).
    adata = ad.AnnData(X=values, obs=obs,
                       var=pd.DataFrame(index=pd.Index(expr.index.astype(str), name="gene")))
    PreparedUns(cohort=cohort, prepare=notes.as_dict(), provenance=provenance,
                clinical_mapping=list(clinical_mapping or []), description=description,
                platform=platform).write(adata.uns)
    return adata


def match_samples(columns: pd.Index, clinical: pd.DataFrame, notes: PrepareNotes, *,
                  cohort: str, source: str) -> pd.DataFrame:
    """The clinical table indexed by sample id, after checking it against the matrix columns:
    none shared, or ids that match only under a rule (:func:`near_matches`), stop; the
    unmatched ones on either side are counted in ``notes`` and the log."""
    notes.clinical_ids_stripped = int(clinical.attrs.get("ids_stripped", 0))
    clin = clinical.set_index("sample_id")
    in_clin = columns.isin(clin.index)
    notes.samples_without_clinical = [str(s) for s in columns[~in_clin]]
    only_clin = clin.index.difference(columns)
    notes.clinical_without_expression = len(only_clin)
    near = near_matches(notes.samples_without_clinical, list(only_clin))
    if near:
        rule, pairs = near
        raise FerroscopeError(
            f"{len(pairs)} matrix column(s) have no clinical row but would match one "
            f"{rule}: {', '.join(f'{m!r} ~ {c!r}' for m, c in pairs[:5])}"
            f"{', ...' if len(pairs) > 5 else ''} ({int(in_clin.sum())} ids match exactly; "
            f"{len(notes.samples_without_clinical)} matrix columns without a clinical row, "
            f"{len(only_clin)} clinical rows without a matrix column). Ids are compared "
            "exactly, after stripping surrounding whitespace.", file=source,
            field=f"cohorts.{cohort}.clinical.sample_id",
            fix="write the ids identically in the matrix header and the clinical table (the "
                "rule above shows how they differ), or point clinical.sample_id at the column "
                "holding the matrix's ids.")
    if not in_clin.any():
        raise FerroscopeError(
            "no sample id of the expression matrix is in the clinical table "
            f"(matrix: {list(columns[:3])}..., clinical: {list(clin.index[:3])}...).",
            file=source, field="clinical.sample_id",
            fix="point clinical.sample_id at the column holding the matrix's sample ids.")
    if notes.samples_without_clinical or len(only_clin):
        log.warning("%s: %d matrix columns without a clinical row are kept with empty clinical "
                    "fields; %d clinical rows without a matrix column are not used", cohort,
                    len(notes.samples_without_clinical), len(only_clin))
    return clin


def near_matches(matrix_ids: list[str],
                 clinical_ids: list[str]) -> tuple[str, list[tuple[str, str]]] | None:
    """The rule under which unmatched matrix ids would match unmatched clinical ids, with the
    pairs: case folding, or removing a prefix or suffix shared by the ids of one side (the
    most common one). None when no rule matches any pair."""
    if not matrix_ids or not clinical_ids:
        return None
    folded = {c.casefold(): c for c in clinical_ids}
    pairs = [(m, folded[m.casefold()]) for m in matrix_ids if m.casefold() in folded]
    if pairs:
        return "after case folding", pairs
    best: tuple[str, list[tuple[str, str]]] | None = None
    for longer, shorter, side in ((matrix_ids, clinical_ids, "matrix"),
                                  (clinical_ids, matrix_ids, "clinical")):
        for kind, found in _affixes(longer, set(shorter)).items():
            for affix, hits in found.items():
                if best is None or len(hits) > len(best[1]):
                    pairs = hits if side == "matrix" else [(b, a) for a, b in hits]
                    best = f"after removing the {kind} {affix!r} of the {side} ids", pairs
    return best


def _affixes(longer: list[str], target: set[str]) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """prefix/suffix -> affix -> (id, id without it) for the ids of ``longer`` that become an
    id of ``target`` once a prefix or a suffix is removed (one pass per distinct length)."""
    out: dict[str, dict[str, list[tuple[str, str]]]] = {"prefix": {}, "suffix": {}}
    for n in {len(s) for s in target}:
        for x in longer:
            if len(x) > n and x[-n:] in target:
                out["prefix"].setdefault(x[:-n], []).append((x, x[-n:]))
            if len(x) > n and x[:n] in target:
                out["suffix"].setdefault(x[n:], []).append((x, x[:n]))
    return out


def _input_path(provenance: dict[str, Any], role: str) -> str:
    """The path of the input with ``role`` in a provenance record ("" when absent)."""
    return next((str(f.get("path", "")) for f in provenance.get("inputs", [])
                 if f.get("role") == role), "")


def write_h5ad(adata: ad.AnnData, path: str) -> None:
    """Write the AnnData atomically (no half-written .h5ad survives a crash)."""
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)
