"""Prepare: raw expression + clinical table -> AnnData with HGNC symbols and a standard table.

Expression handling (documented in the report's methods section):

* gene names pass through the alias table (FSP1 -> AIFM2 ...); empty names are dropped;
* duplicated symbols are collapsed by keeping the row with the largest variance across samples
  (the "most variable probe" rule common for microarrays);
* scale: ``linear`` values become log2(x + 1); ``auto`` calls a matrix linear when its 99th
  percentile exceeds 100 (log2 intensities and log-TPM stay well below that).

The standard clinical table has one row per sample: ``sample_id``, ``os_time_months``,
``os_event`` (1 = death), optional ``{rfs,dfs,pfi,dss}_time_months``/``_event``,
``response`` (1 responder, 0 non-responder, empty = not evaluable), ``arm`` and the covariates
named in config.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from .constants import ENDPOINTS
from .errors import FerroscopeError
from .genesets import AliasTable
from .io import atomic_path

log = logging.getLogger(__name__)

MONTHS_PER = {"days": 1 / 30.4375, "weeks": 7 / 30.4375, "months": 1.0, "years": 12.0}
LINEAR_P99_THRESHOLD = 100.0


@dataclass
class PrepareNotes:
    """What the prepare step did, stored in ``adata.uns['prepare']`` and shown in the report."""

    scale_detected: str = ""
    log_transformed: bool = False
    aliases_applied: dict[str, str] = field(default_factory=dict)
    duplicates_collapsed: int = 0
    empty_names_dropped: int = 0
    samples_without_clinical: list[str] = field(default_factory=list)
    clinical_without_expression: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def read_expression(path: str, *, what: str = "expression matrix") -> pd.DataFrame:
    """Read a genes x samples table; the first column holds gene names."""
    from .io import read_table

    df = read_table(path, what=what)
    if df.shape[1] < 2:
        raise FerroscopeError(f"the {what} has {df.shape[1]} column(s); expected a gene column "
                              "followed by one column per sample.", file=path,
                              fix="use a tab- or comma-separated genes x samples table.")
    df = df.set_index(df.columns[0])
    df.index = df.index.astype(str)
    non_numeric = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if non_numeric:
        raise FerroscopeError(f"sample column(s) {non_numeric[:3]} hold non-numeric values.",
                              file=path, field=str(non_numeric[0]),
                              fix="keep only the gene column and numeric sample columns.")
    return df


def harmonise_expression(raw: pd.DataFrame, aliases: AliasTable, *, scale: str = "auto",
                         source: str = "") -> tuple[pd.DataFrame, PrepareNotes]:
    """Apply aliases, collapse duplicates, detect and fix the scale. Returns genes x samples."""
    notes = PrepareNotes()
    if raw.columns.has_duplicates:
        dup = raw.columns[raw.columns.duplicated()][0]
        raise FerroscopeError(f"sample id '{dup}' appears twice.", file=source, field=str(dup),
                              fix="give every sample column a unique id.")
    names = pd.Index([str(n).strip() for n in raw.index])
    keep = (names != "") & (names.str.lower() != "nan")
    notes.empty_names_dropped = int((~keep).sum())
    expr = raw.loc[keep].copy()
    new = [aliases(n) for n in names[keep]]
    notes.aliases_applied = {o: n for o, n in zip(names[keep], new, strict=True) if o != n}
    expr.index = pd.Index(new, name="gene")

    values = expr.to_numpy(dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise FerroscopeError("the expression matrix holds no finite values.", file=source,
                              fix="check the file's contents.")
    p99 = float(np.percentile(finite, 99))
    if scale == "auto":
        scale = "linear" if p99 > LINEAR_P99_THRESHOLD else "log2"
        notes.scale_detected = f"{scale} (auto: 99th percentile {p99:.3g})"
    else:
        notes.scale_detected = f"{scale} (from config)"
    if scale == "linear":
        if finite.min() < 0:
            raise FerroscopeError("negative values in a matrix declared or detected linear.",
                                  file=source, field="expression_scale",
                                  fix="set expression_scale: log2 for log-scale data.")
        expr = np.log2(expr + 1.0)
        notes.log_transformed = True

    if expr.index.has_duplicates:
        var = expr.var(axis=1, skipna=True).to_numpy()
        order = pd.DataFrame({"gene": expr.index, "var": var, "pos": np.arange(len(var))})
        best = order.sort_values(["gene", "var", "pos"], ascending=[True, False, True])
        best = best.drop_duplicates("gene", keep="first").sort_values("pos")
        notes.duplicates_collapsed = len(expr) - len(best)
        expr = expr.iloc[best["pos"].to_numpy()]
    return expr, notes


def _matches(series: pd.Series, values: list[Any]) -> pd.Series:
    """Which entries equal one of ``values``: text case-insensitively, numbers numerically.

    Numeric matching matters for columns read as float because of missing values, where the
    event code 1 arrives as 1.0.
    """
    text = {str(v).strip().lower() for v in values}
    numbers = {float(v) for v in values if _is_number(v)}
    hit = series.astype(str).str.strip().str.lower().isin(text)
    if numbers:
        hit |= pd.to_numeric(series, errors="coerce").isin(numbers)
    return hit


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _event(series: pd.Series, values: list[Any], what: str, source: str) -> pd.Series:
    present = series.notna() & (series.astype(str).str.strip() != "")
    out = _matches(series, values).astype(float)
    out[~present] = np.nan
    if present.any() and out[present].sum() == 0:
        seen = sorted(series[present].astype(str).unique())[:8]
        raise FerroscopeError(f"no value of the {what} column matches event_values {values} "
                              f"(values seen: {seen}).", file=source, field=str(series.name),
                              fix="set event_values to the value(s) meaning the event.")
    return out


def standardise_clinical(raw: pd.DataFrame, mapping: dict[str, Any], *, source: str,
                         cohort: str) -> pd.DataFrame:
    """Map a raw clinical table to the standard columns, with units in months."""
    def need(col: str, key: str) -> pd.Series:
        if col not in raw.columns:
            raise FerroscopeError(
                f"column '{col}' named by cohorts.{cohort}.clinical.{key} is not in the table "
                f"(columns: {', '.join(map(str, raw.columns[:15]))}).", file=source, field=col,
                fix=f"correct cohorts.{cohort}.clinical.{key} in config/config.yaml.")
        return raw[col]

    sid = need(mapping["sample_id"], "sample_id").astype(str).str.strip()
    if sid.duplicated().any():
        dup = sid[sid.duplicated()].iloc[0]
        raise FerroscopeError(f"sample id '{dup}' appears more than once.", file=source,
                              field=mapping["sample_id"], fix="keep one row per sample.")
    out = pd.DataFrame({"sample_id": sid.to_numpy()})
    for ep in ENDPOINTS:
        if f"{ep}_time" not in mapping:
            continue
        tmap, emap = mapping[f"{ep}_time"], mapping[f"{ep}_event"]
        t = pd.to_numeric(need(tmap["column"], f"{ep}_time.column"), errors="coerce")
        if (t < 0).any():
            bad = sid[(t < 0).to_numpy()].iloc[0]
            raise FerroscopeError(f"negative survival time for sample '{bad}'.", file=source,
                                  field=tmap["column"], fix="correct or remove that row.")
        if t.notna().sum() == 0:
            name = {"os": "overall survival"}.get(ep, ep.upper())
            raise FerroscopeError(
                f"no sample has {name} time: column '{tmap['column']}' is empty for all "
                f"{len(t)} samples (after the sample selection).", file=source,
                field=tmap["column"],
                fix=f"check the column named by cohorts.{cohort}.clinical.{ep}_time, the "
                    "sample selection (survival is often given on tumour rows only) and the "
                    "join of the supplementary table.")
        out[f"{ep}_time_months"] = (t * MONTHS_PER[tmap["unit"]]).to_numpy()
        ev = _event(need(emap["column"], f"{ep}_event.column"), emap["event_values"],
                    f"{ep} event", source)
        out[f"{ep}_event"] = ev.to_numpy()
    if "response" in mapping:
        r = mapping["response"]
        col = need(r["column"], "response.column")
        resp = pd.Series(np.nan, index=col.index)
        resp[_matches(col, r["responder_values"])] = 1.0
        resp[_matches(col, r["non_responder_values"])] = 0.0
        out["response"] = resp.to_numpy()
        out["response_arm"] = r.get("arm", "")
    if "sample_title" in mapping:
        out["title"] = need(mapping["sample_title"], "sample_title").astype(str).to_numpy()
    if "arm" in mapping:
        out["arm"] = need(mapping["arm"]["column"], "arm.column").astype(str).to_numpy()
    for cov in mapping.get("covariates", []):
        out[cov] = need(cov, "covariates").to_numpy()
    return out


def build_anndata(expr: pd.DataFrame, clinical: pd.DataFrame, notes: PrepareNotes, *,
                  cohort: str, source: str, provenance: dict[str, Any]) -> ad.AnnData:
    """Join expression (genes x samples) and clinical on sample id; obs = samples."""
    clin = clinical.set_index("sample_id")
    in_both = [s for s in expr.columns if s in clin.index]
    notes.samples_without_clinical = [str(s) for s in expr.columns if s not in clin.index]
    notes.clinical_without_expression = int(len(clin.index.difference(expr.columns)))
    if not in_both:
        raise FerroscopeError(
            "no sample id of the expression matrix is in the clinical table "
            f"(matrix: {list(expr.columns[:3])}..., clinical: {list(clin.index[:3])}...).",
            file=source, field="clinical.sample_id",
            fix="point clinical.sample_id at the column holding the matrix's sample ids.")
    if notes.samples_without_clinical:
        log.warning("%s: %d samples without a clinical row are kept with empty clinical fields",
                    cohort, len(notes.samples_without_clinical))
    obs = clin.reindex(expr.columns)
    obs.index.name = "sample_id"
    for col in obs.columns:
        if obs[col].dtype == object:
            obs[col] = obs[col].fillna("").astype(str)
    adata = ad.AnnData(X=expr.T.to_numpy(dtype=np.float32), obs=obs,
                       var=pd.DataFrame(index=pd.Index(expr.index.astype(str), name="gene")))
    adata.uns["cohort"] = cohort
    # JSON strings: h5ad stores them losslessly whatever their nesting.
    adata.uns["prepare"] = json.dumps(notes.as_dict())
    adata.uns["provenance"] = json.dumps(provenance)
    return adata


def write_h5ad(adata: ad.AnnData, path: str) -> None:
    """Write the AnnData atomically (no half-written .h5ad survives a crash)."""
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)
