"""Prepare: raw expression + clinical table -> AnnData with HGNC symbols and a standard table.

Expression handling (documented in the report's methods section):

* gene names are kept as written (the alias table maps gene-set members to matrix rows in the
  coverage and score steps, never matrix rows to symbols); Excel-mangled names (``1-Mar``,
  ``40432``) are listed in the notes;
* missing values: genes missing in more than ``missing.max_fraction`` of samples are dropped
  (and listed); remaining missing cells stay NaN for the scoring methods' policy;
* duplicated symbols are collapsed by keeping the row with the largest variance across samples
  (the "most variable probe" rule common for microarrays); the names are listed;
* scale: ``linear`` values become log2(x + 1); ``log_ratio`` (centred two-colour or
  tumour/normal ratios) and ``log2`` are kept; ``auto`` calls a matrix linear when its 99th
  percentile exceeds 100 and log_ratio when many values are negative around a median near 0.

The standard clinical table has one row per sample: ``sample_id``, ``os_time_months``,
``os_event`` (1 = death), optional ``{rfs,dfs,pfi,dss}_time_months``/``_event``,
``response`` (1 responder, 0 non-responder, empty = not evaluable), ``arm`` and the covariates
named in config.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from .errors import FerroscopeError
from .io import atomic_path

log = logging.getLogger(__name__)

#: Time-to-event endpoints: overall, recurrence-free, disease-free, progression-free interval,
#: disease-specific survival. Each maps ``{ep}_time`` + ``{ep}_event`` in a cohort's config.
ENDPOINTS = ("os", "rfs", "dfs", "pfi", "dss")
MONTHS_PER = {"days": 1 / 30.4375, "weeks": 7 / 30.4375, "months": 1.0, "years": 12.0}
LINEAR_P99_THRESHOLD = 100.0


#: ``auto`` calls a matrix centred log ratios when at least this fraction of its finite values
#: is negative and its median is within ``CENTRED_MEDIAN`` of 0 (log2 intensities and log-TPM
#: are almost never negative; two-colour and tumour/normal ratios are half negative).
CENTRED_NEGATIVE_FRACTION = 0.2
CENTRED_MEDIAN = 1.0
#: What a score means on each scale (prepare notes, report cohort table).
SCALE_MEANING = {
    "log2": "higher or lower expression than in the cohort's other samples",
    "linear": "higher or lower expression than in the cohort's other samples "
              "(after log2(x + 1))",
    "log_ratio": "up or down against each sample's own reference (the patient's own liver "
                 "or the array's reference channel), relative to the cohort's other samples",
}
DEFAULT_MISSING = {"max_fraction": 0.2}

_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec"
_EXCEL_PATTERNS = [
    re.compile(rf"^\d{{1,2}}-({_MONTHS})$", re.I),          # 1-Mar, 9-Sep (MARCH1, SEPT9)
    re.compile(rf"^({_MONTHS})-\d{{1,2}}$", re.I),          # Mar-1
    re.compile(r"^\d{1,2}/\d{1,2}/\d{2,4}$"),                # 3/1/2006
    re.compile(r"^(19|20)\d\d-\d\d-\d\d( 00:00:00)?$"),     # 2006-03-01
    re.compile(r"^\d{5}(\.0)?$"),                            # 40432: an Excel date serial
]


def excel_mangled(names: Any) -> list[str]:
    """Gene names that Excel turned into dates or date serial numbers (``1-Mar``, ``9-Sep``,
    ``40432``); see Ziemann et al. 2016 Genome Biol 17:177."""
    texts = [str(n).strip() for n in names]
    # a matrix named by numeric ids (Entrez) is not mangled: serials count only among symbols
    numeric_ids = sum(t.isdigit() for t in texts) > 0.5 * max(len(texts), 1)
    out = []
    for text in texts:
        if any(pat.match(text) for pat in _EXCEL_PATTERNS):
            if _EXCEL_PATTERNS[-1].match(text) and (numeric_ids
                                                    or not 30000 <= float(text) <= 60000):
                continue
            out.append(text)
    return out


def guess_scale(values: np.ndarray) -> tuple[str, str]:
    """Guess the scale of an expression matrix from its finite values.

    ``linear`` when the 99th percentile exceeds 100 (log2 intensities and log-TPM stay well
    below); ``log_ratio`` when at least 20% of the values are negative and the median is
    within 1 of 0 (centred data: two-colour or tumour/normal log ratios); else ``log2``.
    Returns (scale, explanation).
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return "unknown", "no finite value"
    p99 = float(np.percentile(finite, 99))
    neg = float((finite < 0).mean())
    med = float(np.median(finite))
    if p99 > LINEAR_P99_THRESHOLD:
        return "linear", f"99th percentile {p99:.3g} > {LINEAR_P99_THRESHOLD:g}"
    if neg >= CENTRED_NEGATIVE_FRACTION and abs(med) <= CENTRED_MEDIAN:
        return "log_ratio", (f"centred log ratios: {neg:.0%} of values negative, median "
                             f"{med:.2g}, range {finite.min():.3g} to {finite.max():.3g}")
    return "log2", f"99th percentile {p99:.3g}, {neg:.0%} negative"


@dataclass
class PrepareNotes:
    """What the prepare step did, stored in ``adata.uns['prepare']`` and shown in the report."""

    scale_detected: str = ""
    scale: str = ""
    score_meaning: str = ""
    log_transformed: bool = False
    duplicates_collapsed: int = 0
    duplicated_genes: list[str] = field(default_factory=list)
    empty_names_dropped: int = 0
    excel_mangled: list[str] = field(default_factory=list)
    missing_max_fraction: float = DEFAULT_MISSING["max_fraction"]
    missing_cells_input: int = 0
    missing_genes_dropped: dict[str, float] = field(default_factory=dict)
    missing_cells_dropped: int = 0
    missing_cells_kept: int = 0
    missing_genes_kept: int = 0
    samples_without_clinical: list[str] = field(default_factory=list)
    clinical_without_expression: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def _cells(df: pd.DataFrame, mask: np.ndarray, limit: int = 5) -> str:
    rows, cols = np.nonzero(mask)
    return ", ".join(f"(gene {df.index[r]!r}, sample {df.columns[c]!r}: {df.iat[r, c]!r})"
                     for r, c in zip(rows[:limit], cols[:limit], strict=True))


def read_expression(path: str, *, what: str = "expression matrix",
                    field: str | None = None) -> pd.DataFrame:
    """Read a genes x samples table; the first column holds gene names.

    Stops with one named error on: a repeated sample column in the raw header, a header with
    no gene rows, gene names in a column other than the first, empty gene names, and cells
    that are not numbers (the first few listed as gene, sample, value). Missing cells (empty,
    ``NA``, ``NaN``) are kept as NaN for the missing-value policy. ``field`` is the config key
    naming the file (``cohorts.<id>.expression``), used when no column is to blame.
    """
    from .io import read_table

    df = read_table(path, what=what, field=field)
    if not isinstance(df.index, pd.RangeIndex):
        # the header has one field fewer than the rows (R's write.table): pandas made the first
        # column the index; give it a name and treat it like a gene column
        df = df.reset_index(names="gene")
    if df.shape[1] < 2:
        raise FerroscopeError(f"the {what} has {df.shape[1]} column(s); expected a gene column "
                              "followed by one column per sample.", file=path, field=field,
                              fix="use a tab-separated (.tsv) or comma-separated (.csv) genes x "
                                  "samples table whose first column holds the gene names.")
    if len(df) == 0:
        raise FerroscopeError(f"the {what} has a header ({df.shape[1]} columns) but no gene "
                              "rows.", file=path, field=field,
                              fix="check the export (a failed or truncated write?) and point "
                                  "the config at the complete matrix.")
    first = df.columns[0]
    first_numeric = pd.to_numeric(df[first], errors="coerce").notna().all()
    text_cols = [c for c in df.columns[1:] if not pd.api.types.is_numeric_dtype(df[c])
                 and pd.to_numeric(df[c], errors="coerce").notna().sum() == 0]
    if first_numeric and text_cols:
        pos = list(df.columns).index(text_cols[0]) + 1
        raise FerroscopeError(
            f"the first column '{first}' holds numbers while column '{text_cols[0]}' (column "
            f"{pos}) holds text: the gene names are not in the first column.", file=path,
            field=str(text_cols[0]),
            fix=f"move the gene column '{text_cols[0]}' to the front (and drop other "
                "annotation columns).")
    df = df.set_index(first)
    names = pd.Series(df.index, dtype=object)
    empty = names.isna() | (names.astype(str).str.strip() == "")
    if empty.any():
        lines = (np.flatnonzero(empty.to_numpy()) + 2)[:5].tolist()
        raise FerroscopeError(
            f"{int(empty.sum())} row(s) of the {what} have no gene name (file lines {lines}).",
            file=path, field=str(first),
            fix="fill in the gene names or delete those rows.")
    df.index = pd.Index(names.astype(str).str.strip(), name="gene")
    bad_cols = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if bad_cols:
        sub = df[bad_cols]
        coerced = sub.apply(pd.to_numeric, errors="coerce")
        mask = (coerced.isna() & sub.notna()).to_numpy()
        n_bad = int(mask.sum())
        raise FerroscopeError(
            f"{n_bad} cell(s) in {len(bad_cols)} sample column(s) are not numbers; first: "
            f"{_cells(sub, mask)}.", file=path, field=str(bad_cols[0]),
            fix="keep only the gene column and numeric sample columns; write missing values "
                "as empty cells or NA (they go to the missing-value policy, key `missing`).")
    return df.astype(np.float64)


def harmonise_expression(raw: pd.DataFrame, aliases: Any = None, *, scale: str = "auto",
                         source: str = "", missing: dict[str, Any] | None = None,
                         missing_key: str = "missing") -> tuple[pd.DataFrame, PrepareNotes]:
    """Check names and values, apply the missing-value policy, detect and fix the scale,
    collapse duplicated genes. Returns genes x samples with the matrix's own gene names.

    Gene names are never renamed (aliases map gene-set members to matrix rows in the coverage
    and score steps, :func:`ferroscope.genesets.resolve_members`); ``aliases`` is accepted for
    backward compatibility and ignored. Missing values: a gene missing in more than
    ``missing['max_fraction']`` of the samples (and every gene with no finite value) is
    dropped and listed in the notes; the remaining missing cells stay NaN for the scoring
    methods' missing-value policy. ``missing_key`` names the config key in messages.
    """
    del aliases
    notes = PrepareNotes()
    policy = {**DEFAULT_MISSING, **(missing or {})}
    max_fraction = float(policy["max_fraction"])
    notes.missing_max_fraction = max_fraction
    if raw.columns.has_duplicates:
        dup = raw.columns[raw.columns.duplicated()][0]
        raise FerroscopeError(f"sample id '{dup}' appears twice.", file=source, field=str(dup),
                              fix="give every sample column a unique id.")
    names = pd.Index([str(n).strip() for n in raw.index])
    keep = (names != "") & (names.str.lower() != "nan")
    notes.empty_names_dropped = int((~keep).sum())
    expr = raw.loc[keep].copy()
    expr.index = pd.Index(names[keep], name="gene")
    expr = expr.astype(np.float64)
    notes.excel_mangled = excel_mangled(expr.index)
    if notes.excel_mangled:
        log.warning("%s: %d gene names look like Excel dates or serial numbers (%s); they "
                    "cannot be matched to gene sets. Fix: re-export the matrix without "
                    "opening it in Excel, or import gene columns as text.", source,
                    len(notes.excel_mangled), ", ".join(notes.excel_mangled[:10]))

    values = expr.to_numpy(dtype=np.float64)
    inf = np.isinf(values)
    if inf.any():
        raise FerroscopeError(
            f"{int(inf.sum())} infinite value(s); first: {_cells(expr, inf)}.", file=source,
            field="expression",
            fix="replace them with real values or leave the cells empty (missing); an inf is "
                "often the log of 0: use log2(x + 1) or expression_scale: linear.")
    isna = np.isnan(values)
    if isna.all():
        raise FerroscopeError(
            f"the expression matrix holds no finite values ({values.size} cells, all missing "
            "or not numbers).", file=source, fix="check the file's contents and export.")
    notes.missing_cells_input = int(isna.sum())
    frac = isna.mean(axis=1)
    drop = (frac > max_fraction) | (frac == 1.0)
    notes.missing_genes_dropped = {str(g): round(float(f), 4)
                                   for g, f in zip(expr.index[drop], frac[drop], strict=True)}
    notes.missing_cells_dropped = int(isna[drop].sum())
    notes.missing_cells_kept = int(isna[~drop].sum())
    notes.missing_genes_kept = int((isna[~drop].any(axis=1)).sum())
    if notes.missing_cells_input:
        log.warning(
            "%s: %d missing cells (%.1f%% of the matrix) in %d genes: %d genes missing in more "
            "than %.0f%% of samples dropped (%d cells; they count as missing in the coverage "
            "table); %d missing cells in %d genes left for the scoring methods' missing-value "
            "policy (scoring.missing). To change: %s.max_fraction.", source,
            notes.missing_cells_input, 100 * isna.mean(), int(isna.any(axis=1).sum()),
            int(drop.sum()), 100 * max_fraction, notes.missing_cells_dropped,
            notes.missing_cells_kept, notes.missing_genes_kept, missing_key)
    expr = expr.loc[~drop]
    if expr.empty:
        raise FerroscopeError(
            f"every gene is missing in more than {max_fraction:.0%} of the samples, so none "
            "is left.", file=source, field=f"{missing_key}.max_fraction",
            fix=f"raise {missing_key}.max_fraction or check the file's missing cells.")

    values = expr.to_numpy(dtype=np.float64)
    finite = values[np.isfinite(values)]
    guess, why = guess_scale(values)
    if scale == "auto":
        scale = guess
        notes.scale_detected = f"{scale} (auto: {why})"
    else:
        notes.scale_detected = f"{scale} (from config; data: {why})"
    if scale == "linear":
        if finite.min() < 0:
            raise FerroscopeError(
                f"negative values (down to {finite.min():.3g}) in a matrix declared or "
                "detected linear.", file=source, field="expression_scale",
                fix="set expression_scale: log2 for log-scale data, or log_ratio for centred "
                    "log ratios (two-colour arrays, tumour/normal).")
        expr = np.log2(expr + 1.0)
        notes.log_transformed = True
    elif scale == "log_ratio" and guess == "linear":
        raise FerroscopeError(
            f"the matrix is declared log_ratio but looks linear ({why}).", file=source,
            field="expression_scale",
            fix="set expression_scale: linear (or auto) for unlogged intensities or counts.")
    notes.scale = scale
    notes.score_meaning = SCALE_MEANING[scale]

    if expr.index.has_duplicates:
        notes.duplicated_genes = sorted(set(expr.index[expr.index.duplicated()]))
        var = expr.var(axis=1, skipna=True).fillna(-1.0).to_numpy()
        order = pd.DataFrame({"gene": expr.index, "var": var, "pos": np.arange(len(var))})
        best = order.sort_values(["gene", "var", "pos"], ascending=[True, False, True])
        best = best.drop_duplicates("gene", keep="first").sort_values("pos")
        notes.duplicates_collapsed = len(expr) - len(best)
        expr = expr.iloc[best["pos"].to_numpy()]
        log.info("%s: %d rows of %d duplicated gene names collapsed (most variable row kept)",
                 source, notes.duplicates_collapsed, len(notes.duplicated_genes))
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
