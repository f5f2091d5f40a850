"""Expression input: a genes x samples matrix read, checked and put on a log scale.

What the prepare step does to a matrix (:func:`harmonise_expression`; shown in the report's
preparation notes, :class:`PrepareNotes`):

* sample ids: surrounding whitespace is stripped (as of clinical ids) and the changed ids listed;
* gene names are kept as written (the alias table maps gene-set members to matrix rows in the
  coverage and score steps, never matrix rows to symbols); Excel-mangled names (``1-Mar``,
  ``40432``) are listed in the notes;
* missing values: genes missing in more than ``missing.max_fraction`` of samples are dropped
  (and listed); remaining missing cells stay NaN for the scoring methods' policy;
* scale: ``linear`` values become log2(x + 1); ``log_ratio`` (centred two-colour or
  tumour/normal ratios) and ``log2`` are kept; ``auto`` calls a matrix linear when its 99th
  percentile exceeds 100 and log_ratio when many values are negative around a median near 0;
  every value must lie in the scale's plausible range (:data:`PLAUSIBLE_RANGE`);
* duplicated symbols are collapsed by keeping the row with the largest variance across samples
  (the "most variable probe" rule common for microarrays); the names are listed.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
import pandas as pd

from .errors import FerroscopeError
from .uns import PrepareNotes

log = logging.getLogger(__name__)

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
#: Plausible values per scale (inclusive), checked once the scale is known (declared or
#: detected); a value outside stops the run. log2: 2^30 is a billion-fold intensity, above any
#: 16-bit array scanner (< 2^16), TPM (< 2^20 by definition) or read count of one gene; -30 is
#: 1e-9, below log2(TPM + 0.001) = -10 (UCSC Xena) and any measured intensity. linear: the same
#: bound before log2(x + 1), and no negative intensity or count. log_ratio: +-20 is a
#: million-fold change against the reference, beyond any measured ratio. Wider limits need a
#: reason (``cohorts.<id>.expression_limits``).
PLAUSIBLE_RANGE = {"log2": (-30.0, 30.0), "linear": (0.0, 2.0**30), "log_ratio": (-20.0, 20.0)}

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

    df = read_table(path, what=what, field=field, workbook=False)
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


def plausible_range(scale: str, limits: dict[str, Any] | None = None) -> tuple[float, float]:
    """(low, high) of the values possible on ``scale``: :data:`PLAUSIBLE_RANGE`, with a
    cohort's ``expression_limits`` (``min``/``max``, given with a reason) replacing either."""
    lo, hi = PLAUSIBLE_RANGE[scale]
    limits = limits or {}
    return float(limits.get("min", lo)), float(limits.get("max", hi))


def check_plausible(expr: pd.DataFrame, scale: str, *, how: str,
                    limits: dict[str, Any] | None = None, source: str = "",
                    cohort: str = "") -> str:
    """Stop when a value lies outside the plausible range of ``scale`` (missing cells are
    skipped), naming gene, sample, value, scale and the fix. ``how`` says where the scale came
    from (declared or detected). Returns the range as text for the prepare notes."""
    lo, hi = plausible_range(scale, limits)
    values = expr.to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = (values < lo) | (values > hi)
    reason = (limits or {}).get("reason")
    text = f"{lo:g} to {hi:g} ({'expression_limits: ' + reason if reason else scale + ' default'})"
    if not bad.any():
        return text
    key = f"cohorts.{cohort}." if cohort else ""
    worst = values[bad][np.argmax(np.abs(values[bad]))]
    rows, cols = np.nonzero(bad)
    first = ", ".join(f"(gene {expr.index[r]!r}, sample {expr.columns[c]!r}: {values[r, c]:.6g})"
                      for r, c in zip(rows[:3], cols[:3], strict=True))
    raise FerroscopeError(
        f"{int(bad.sum())} value(s) lie outside the plausible range of the {scale} scale "
        f"({how}): {text}; first: {first}; most extreme {worst:.6g}.",
        file=source, field=f"{key}expression_scale",
        fix=f"if the matrix is not on the {scale} scale, set {key}expression_scale (log2, "
            "linear for unlogged intensities or counts, log_ratio for centred ratios); if the "
            "cell is corrupted (a broken export, a sentinel such as 1e300 or -9999), correct "
            "it or leave it empty (missing); if such values are real, widen the range with "
            f"{key}expression_limits: {{max: ..., reason: \"...\"}}.")


def harmonise_expression(raw: pd.DataFrame, *, scale: str = "auto", source: str = "",
                         missing: dict[str, Any] | None = None, missing_key: str = "missing",
                         limits: dict[str, Any] | None = None,
                         cohort: str = "") -> tuple[pd.DataFrame, PrepareNotes]:
    """Check names and values, apply the missing-value policy, detect and fix the scale,
    collapse duplicated genes. Returns genes x samples with the matrix's own gene names.

    Gene names are never renamed (aliases map gene-set members to matrix rows in the coverage
    and score steps, :func:`ferroscope.genesets.resolve_members`). Missing values: a gene
    missing in more than ``missing['max_fraction']`` of the samples (and every gene with no
    finite value) is dropped and listed in the notes; the remaining missing cells stay NaN for
    the scoring methods' missing-value policy. ``missing_key`` names the config key in
    messages. Once the scale is known every value must lie in its plausible range
    (:func:`check_plausible`; ``limits`` = the cohort's ``expression_limits``). Surrounding
    whitespace of sample ids is stripped (as of clinical ids) and the changed ids listed.
    """
    notes = PrepareNotes()
    notes.missing_max_fraction = float({**DEFAULT_MISSING, **(missing or {})}["max_fraction"])
    expr = _names(raw, notes, source)
    expr = _missing_policy(expr, notes, source, missing_key)
    expr = _scale(expr, scale, notes, limits=limits, source=source, cohort=cohort)
    return _collapse_duplicates(expr, notes, source), notes


def _names(raw: pd.DataFrame, notes: PrepareNotes, source: str) -> pd.DataFrame:
    """Sample ids stripped (a repeat stops), empty gene names dropped, Excel-mangled listed."""
    ids = pd.Index([str(c).strip() for c in raw.columns])
    notes.sample_ids_stripped = [str(c) for c in raw.columns if str(c) != str(c).strip()]
    if ids.has_duplicates:
        dup = ids[ids.duplicated()][0]
        raise FerroscopeError(f"sample id '{dup}' appears twice"
                              + (" (after stripping surrounding spaces)"
                                 if notes.sample_ids_stripped else "") + ".",
                              file=source, field=str(dup),
                              fix="give every sample column a unique id.")
    if notes.sample_ids_stripped:
        log.warning("%s: surrounding whitespace stripped from %d sample id(s) of the matrix "
                    "header (as from clinical ids), e.g. %s", source,
                    len(notes.sample_ids_stripped),
                    ", ".join(repr(s) for s in notes.sample_ids_stripped[:5]))
    names = pd.Index([str(n).strip() for n in raw.index])
    keep = (names != "") & (names.str.lower() != "nan")
    notes.empty_names_dropped = int((~keep).sum())
    expr = raw.loc[keep].set_axis(ids, axis=1).astype(np.float64)
    expr.index = pd.Index(names[keep], name="gene")
    notes.excel_mangled = excel_mangled(expr.index)
    if notes.excel_mangled:
        log.warning("%s: %d gene names look like Excel dates or serial numbers (%s); they "
                    "cannot be matched to gene sets. Fix: re-export the matrix without "
                    "opening it in Excel, or import gene columns as text.", source,
                    len(notes.excel_mangled), ", ".join(notes.excel_mangled[:10]))
    return expr


def _missing_policy(expr: pd.DataFrame, notes: PrepareNotes, source: str,
                    missing_key: str) -> pd.DataFrame:
    """Infinite values stop; genes missing in more than the allowed fraction are dropped."""
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
    max_fraction = notes.missing_max_fraction
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
    if drop.all():
        raise FerroscopeError(
            f"every gene is missing in more than {max_fraction:.0%} of the samples, so none "
            "is left.", file=source, field=f"{missing_key}.max_fraction",
            fix=f"raise {missing_key}.max_fraction or check the file's missing cells.")
    return expr.loc[~drop]


def _scale(expr: pd.DataFrame, scale: str, notes: PrepareNotes, *,
           limits: dict[str, Any] | None, source: str, cohort: str) -> pd.DataFrame:
    """Decide the scale (declared or detected), check it against the values, log2(x + 1) a
    linear matrix."""
    values = expr.to_numpy(dtype=np.float64)
    finite = values[np.isfinite(values)]
    guess, why = guess_scale(values)
    if scale == "auto":
        scale = guess
        notes.scale_detected = f"{scale} (auto: {why})"
        how = f"detected: {why}"
    else:
        notes.scale_detected = f"{scale} (from config; data: {why})"
        how = "declared in expression_scale"
    if scale == "linear" and "min" not in (limits or {}) and finite.min() < 0:
        raise FerroscopeError(
            f"negative values (down to {finite.min():.3g}) in a matrix declared or "
            "detected linear.", file=source, field="expression_scale",
            fix="set expression_scale: log2 for log-scale data, or log_ratio for centred "
                "log ratios (two-colour arrays, tumour/normal).")
    if scale == "log_ratio" and guess == "linear":
        raise FerroscopeError(
            f"the matrix is declared log_ratio but looks linear ({why}).", file=source,
            field="expression_scale",
            fix="set expression_scale: linear (or auto) for unlogged intensities or counts.")
    notes.plausible_range = check_plausible(expr, scale, how=how, limits=limits, source=source,
                                            cohort=cohort)
    if scale == "linear":
        expr = np.log2(expr + 1.0)
        notes.log_transformed = True
    notes.scale = scale
    notes.score_meaning = SCALE_MEANING[scale]
    return expr


def _collapse_duplicates(expr: pd.DataFrame, notes: PrepareNotes,
                         source: str) -> pd.DataFrame:
    """Keep the most variable row of each duplicated gene name (first on ties)."""
    if not expr.index.has_duplicates:
        return expr
    notes.duplicated_genes = sorted(set(expr.index[expr.index.duplicated()]))
    var = expr.var(axis=1, skipna=True).fillna(-1.0).to_numpy()
    order = pd.DataFrame({"gene": expr.index, "var": var, "pos": np.arange(len(var))})
    best = order.sort_values(["gene", "var", "pos"], ascending=[True, False, True])
    best = best.drop_duplicates("gene", keep="first").sort_values("pos")
    notes.duplicates_collapsed = len(expr) - len(best)
    log.info("%s: %d rows of %d duplicated gene names collapsed (most variable row kept)",
             source, notes.duplicates_collapsed, len(notes.duplicated_genes))
    return expr.iloc[best["pos"].to_numpy()]
