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

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from .constants import ENDPOINTS, MONTHS_PER_UNIT
from .errors import FerroscopeError
from .io import atomic_path, first_infinite
from .uns import PreparedUns

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
    plausible_range: str = ""
    sample_ids_stripped: list[str] = field(default_factory=list)
    samples_without_clinical: list[str] = field(default_factory=list)
    clinical_without_expression: int = 0
    clinical_ids_stripped: int = 0
    clinical_workbook: str = ""

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


def harmonise_expression(raw: pd.DataFrame, aliases: Any = None, *, scale: str = "auto",
                         source: str = "", missing: dict[str, Any] | None = None,
                         missing_key: str = "missing", limits: dict[str, Any] | None = None,
                         cohort: str = "") -> tuple[pd.DataFrame, PrepareNotes]:
    """Check names and values, apply the missing-value policy, detect and fix the scale,
    collapse duplicated genes. Returns genes x samples with the matrix's own gene names.

    Gene names are never renamed (aliases map gene-set members to matrix rows in the coverage
    and score steps, :func:`ferroscope.genesets.resolve_members`); ``aliases`` is accepted for
    backward compatibility and ignored. Missing values: a gene missing in more than
    ``missing['max_fraction']`` of the samples (and every gene with no finite value) is
    dropped and listed in the notes; the remaining missing cells stay NaN for the scoring
    methods' missing-value policy. ``missing_key`` names the config key in messages. Once the
    scale is known every value must lie in its plausible range (:func:`check_plausible`;
    ``limits`` = the cohort's ``expression_limits``). Surrounding whitespace of sample ids is
    stripped (as of clinical ids) and the changed ids listed in the notes.
    """
    del aliases
    notes = PrepareNotes()
    policy = {**DEFAULT_MISSING, **(missing or {})}
    max_fraction = float(policy["max_fraction"])
    notes.missing_max_fraction = max_fraction
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
        raw = raw.set_axis(ids, axis=1)
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
        how = f"detected: {why}"
    else:
        notes.scale_detected = f"{scale} (from config; data: {why})"
        how = "declared in expression_scale"
    if scale == "linear" and "min" not in (limits or {}):
        if finite.min() < 0:
            raise FerroscopeError(
                f"negative values (down to {finite.min():.3g}) in a matrix declared or "
                "detected linear.", file=source, field="expression_scale",
                fix="set expression_scale: log2 for log-scale data, or log_ratio for centred "
                    "log ratios (two-colour arrays, tumour/normal).")
    elif scale == "log_ratio" and guess == "linear":
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


#: Cells read as missing in clinical tables (compared after stripping, case-insensitively):
#: empty, GEO's and R's literal ``NA``, pandas' ``nan``, ``N/A`` and ``null``. A missing cell
#: makes that sample missing for that mapping; it is counted, never guessed.
MISSING_TOKENS = frozenset({"", "na", "nan", "n/a", "null"})


def _norm(series: pd.Series) -> pd.Series:
    """Cell text for comparisons: stripped and lower-cased (NaN -> '')."""
    return series.map(lambda v: "" if _isnull(v) else str(v).strip().lower())


def _isnull(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _missing(series: pd.Series) -> pd.Series:
    """Which cells count as missing (see :data:`MISSING_TOKENS`)."""
    return _norm(series).isin(MISSING_TOKENS)


def _display(value: Any) -> str:
    """A cell as the user wrote it: 1.0 read from a float column is shown as 1."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _observed(series: pd.Series) -> str:
    """Every distinct value with its count, most frequent first; missing cells last."""
    miss = _missing(series)
    counts = series[~miss].map(_display).value_counts()
    parts = [f"'{v}' {n}" for v, n in counts.items()]
    if miss.any():
        parts.append(f"missing {int(miss.sum())}")
    return ", ".join(parts) or "none"


def _matches(series: pd.Series, values: list[Any]) -> pd.Series:
    """Which entries equal one of ``values``: text case-insensitively, numbers numerically.

    Numeric matching matters for columns read as float because of missing values, where the
    event code 1 arrives as 1.0.
    """
    text = {str(v).strip().lower() for v in values}
    numbers = {float(v) for v in values if _is_number(v)}
    hit = _norm(series).isin(text)
    if numbers:
        hit |= pd.to_numeric(series, errors="coerce").isin(numbers)
    return hit


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _classify(series: pd.Series, groups: dict[str, tuple[str, list[Any]]], *, key: str,
              cohort: str, source: str, undeclared_fix: str) -> tuple[pd.Series, dict[str, int]]:
    """Map every cell of ``series`` to one group name, or stop.

    ``groups`` maps a group name to (config key holding its values, values). A group named
    ``excluded`` holds values mapped to missing on purpose; it may match nothing. Every other
    declared value must match at least one sample, and every non-missing cell must match
    exactly one group. Returns the group per cell (None = missing) and the counts per group.
    """
    col = str(series.name)
    miss = _missing(series)
    label = pd.Series([None] * len(series), index=series.index, dtype=object)
    claimed: dict[str, str] = {}
    for name, (cfg_key, values) in groups.items():
        for v in values:
            hit = _matches(series, [v]) & ~miss
            norm = str(v).strip().lower()
            if norm in claimed and claimed[norm] != cfg_key:
                raise FerroscopeError(
                    f"value '{v}' is declared twice (in {claimed[norm]} and {cfg_key}).",
                    file=source, field=f"cohorts.{cohort}.clinical.{key}",
                    fix="keep each value in one list.")
            claimed[norm] = cfg_key
            if not hit.any() and name != "excluded":
                raise FerroscopeError(
                    f"value '{v}' declared in cohorts.{cohort}.clinical.{cfg_key} matches no "
                    f"sample in column '{col}'"
                    + (" (this arm does not exist in the data)" if key == "arm" else "")
                    + f". Observed values (count): {_observed(series)}.",
                    file=source, field=f"cohorts.{cohort}.clinical.{cfg_key}",
                    fix=f"edit cohorts.{cohort}.clinical.{cfg_key} to the values written in "
                        "the data (case and surrounding spaces are ignored).")
            overlap = hit & label.notna() & (label != name)
            if overlap.any():
                raise FerroscopeError(
                    f"value '{v}' of column '{col}' matches two lists of "
                    f"cohorts.{cohort}.clinical.{key} (e.g. '1' and 1.0).", file=source,
                    field=f"cohorts.{cohort}.clinical.{key}", fix="keep each value in one list.")
            label[hit] = name
    undeclared = label.isna() & ~miss
    if undeclared.any():
        odd = series[undeclared].map(_display).value_counts()
        raise FerroscopeError(
            f"column '{col}' holds value(s) that cohorts.{cohort}.clinical.{key} does not "
            f"declare: {', '.join(f'{v!r} ({n})' for v, n in odd.items())}. All observed "
            f"values (count): {_observed(series)}. A value is never dropped silently.",
            file=source, field=f"cohorts.{cohort}.clinical.{key}", fix=undeclared_fix)
    label[label == "excluded"] = None
    counts = {name: int((label == name).sum()) for name in groups if name != "excluded"}
    counts["excluded"] = int((~miss & label.isna()).sum())
    counts["missing"] = int(miss.sum())
    return label, counts


def _times(series: pd.Series, sid: pd.Series, *, key: str, cohort: str,
           source: str) -> pd.Series:
    """Parse survival times: missing cells -> NaN; text or non-finite numbers stop the run."""
    col = str(series.name)
    miss = _missing(series)
    t = pd.to_numeric(series.where(~miss), errors="coerce").astype(float)
    bad = ~miss & ~np.isfinite(t.to_numpy())
    if bad.any():
        cells = [f"sample '{s}': {_display(v)!r}" for s, v in
                 zip(sid[bad.to_numpy()][:5], series[bad][:5], strict=True)]
        every = " (every non-missing cell)" if int(bad.sum()) == int((~miss).sum()) else ""
        raise FerroscopeError(
            f"column '{col}' (cohorts.{cohort}.clinical.{key}) holds {int(bad.sum())} "
            f"value(s) that are not numbers{every}; first: {'; '.join(cells)}.", file=source,
            field=col, fix="write plain numbers in the unit named by "
                           f"cohorts.{cohort}.clinical.{key}.unit (empty or NA for missing).")
    neg = (t < 0).to_numpy()
    if neg.any():
        cells = [f"'{s}': {_display(v)}" for s, v in
                 zip(sid[neg][:5], series[neg][:5], strict=True)]
        raise FerroscopeError(
            f"negative survival time for sample {cells[0].split(':')[0]} in column '{col}' "
            f"({int(neg.sum())} negative: {'; '.join(cells)}).", file=source, field=col,
            fix="correct or remove those rows.")
    return t


def standardise_clinical(raw: pd.DataFrame, mapping: dict[str, Any], *, source: str,
                         cohort: str) -> pd.DataFrame:
    """Map a raw clinical table to the standard columns, with units in months.

    Strict value mapping: every value config declares (event, censoring, responder,
    non-responder, arm) must occur in the data, and every non-missing cell must be declared
    (or listed in ``exclude_values``, mapped to missing on purpose); otherwise one error lists
    every observed value with its count and the config key to edit. Missing cells (see
    :data:`MISSING_TOKENS`) become missing and are counted. The counts per mapping are in
    ``out.attrs["mapping"]`` (a list of dicts) for the prepare notes and the report.
    """
    def need(col: str, key: str) -> pd.Series:
        if col not in raw.columns:
            raise FerroscopeError(
                f"column '{col}' named by cohorts.{cohort}.clinical.{key} is not in the table "
                f"(columns: {', '.join(map(str, raw.columns[:15]))}).", file=source, field=col,
                fix=f"correct cohorts.{cohort}.clinical.{key} in config/config.yaml.")
        return raw[col]

    sid_raw = need(mapping["sample_id"], "sample_id")
    sid = sid_raw.astype(str).str.strip()
    ids_stripped = int((sid != sid_raw.astype(str)).sum())
    if ids_stripped:
        log.warning("%s: surrounding whitespace stripped from %d clinical sample id(s) "
                    "(column '%s')", cohort, ids_stripped, mapping["sample_id"])
    if _missing(sid_raw).any():
        raise FerroscopeError(
            f"{int(_missing(sid_raw).sum())} row(s) have no sample id in column "
            f"'{mapping['sample_id']}'.", file=source, field=mapping["sample_id"],
            fix="give every row a sample id or remove the empty rows.")
    if sid.duplicated().any():
        dups = sid[sid.duplicated(keep=False)].value_counts()
        raise FerroscopeError(
            f"sample id '{dups.index[0]}' appears more than once ({len(dups)} duplicated "
            f"id(s): {', '.join(f'{k} x{v}' for k, v in dups.head(5).items())}).",
            file=source, field=mapping["sample_id"], fix="keep one row per sample.")
    out = pd.DataFrame({"sample_id": sid.to_numpy()})
    records: list[dict[str, Any]] = []
    for ep in ENDPOINTS:
        if f"{ep}_time" not in mapping:
            continue
        tmap, emap = mapping[f"{ep}_time"], mapping[f"{ep}_event"]
        t = _times(need(tmap["column"], f"{ep}_time.column"), sid, key=f"{ep}_time",
                   cohort=cohort, source=source)
        if t.notna().sum() == 0:
            name = {"os": "overall survival"}.get(ep, ep.upper())
            raise FerroscopeError(
                f"no sample has {name} time: column '{tmap['column']}' is empty for all "
                f"{len(t)} samples (after the sample selection).", file=source,
                field=tmap["column"],
                fix=f"check the column named by cohorts.{cohort}.clinical.{ep}_time, the "
                    "sample selection (survival is often given on tumour rows only) and the "
                    "join of the supplementary table.")
        ev_col = need(emap["column"], f"{ep}_event.column")
        label, counts = _classify(
            ev_col, {"event": (f"{ep}_event.event_values", emap["event_values"]),
                     "censored": (f"{ep}_event.censor_values", emap.get("censor_values", [])),
                     "excluded": (f"{ep}_event.exclude_values",
                                  emap.get("exclude_values", []))},
            key=f"{ep}_event", cohort=cohort, source=source,
            undeclared_fix=f"add each value to cohorts.{cohort}.clinical.{ep}_event."
                           "event_values (the event happened), censor_values (censored) or "
                           "exclude_values (mapped to missing on purpose).")
        ev = label.map({"event": 1.0, "censored": 0.0}).astype(float)
        months = t * MONTHS_PER_UNIT[tmap["unit"]]
        complete = months.notna() & ev.notna()
        out[f"{ep}_time_months"] = months.to_numpy()
        out[f"{ep}_event"] = ev.to_numpy()
        records.append({
            "mapping": f"{ep}_event", "column": str(emap["column"]),
            "kept": int(complete.sum()), "dropped": int((~complete).sum()),
            "events": int((ev[complete] == 1).sum()), "censored": int((ev[complete] == 0).sum()),
            "excluded": counts["excluded"], "event_missing": counts["missing"],
            "time_missing": int(months.isna().sum())})
    arm_cfg = mapping.get("arm")
    resp_cfg = mapping.get("response")
    if resp_cfg is not None:
        col = need(resp_cfg["column"], "response.column")
        label, counts = _classify(
            col, {"responder": ("response.responder_values", resp_cfg["responder_values"]),
                  "non-responder": ("response.non_responder_values",
                                    resp_cfg["non_responder_values"]),
                  "excluded": ("response.exclude_values", resp_cfg.get("exclude_values", []))},
            key="response", cohort=cohort, source=source,
            undeclared_fix=f"add each value to cohorts.{cohort}.clinical.response."
                           "responder_values, non_responder_values or exclude_values (not "
                           "evaluable, mapped to missing on purpose).")
        out["response"] = label.map({"responder": 1.0, "non-responder": 0.0}).astype(
            float).to_numpy()
        records.append({"mapping": "response", "column": str(resp_cfg["column"]),
                        "kept": counts["responder"] + counts["non-responder"],
                        "dropped": counts["excluded"] + counts["missing"],
                        "responders": counts["responder"],
                        "non_responders": counts["non-responder"],
                        "excluded": counts["excluded"], "missing": counts["missing"]})
    if "sample_title" in mapping:
        out["title"] = need(mapping["sample_title"], "sample_title").astype(str).to_numpy()
    treated = (resp_cfg or {}).get("arm")
    control = (resp_cfg or {}).get("control_arm")
    if (treated or control) and arm_cfg is None:
        raise FerroscopeError(
            "response.arm / response.control_arm name an arm, but the cohort has no `arm:` "
            "mapping saying which column holds the arms.", file=source,
            field=f"cohorts.{cohort}.clinical.arm",
            fix=f"add cohorts.{cohort}.clinical.arm: {{column: <column with the arms>}}, or "
                "remove response.arm and response.control_arm.")
    if arm_cfg is not None:
        col = need(arm_cfg["column"], "arm.column")
        if treated:
            groups = {str(treated): ("response.arm", [treated])}
            if control:
                groups[str(control)] = ("response.control_arm", [control])
            groups["excluded"] = ("arm.exclude_values", arm_cfg.get("exclude_values", []))
            label, counts = _classify(
                col, groups, key="arm", cohort=cohort, source=source,
                undeclared_fix=f"name the arm in cohorts.{cohort}.clinical.response.arm or "
                               "control_arm, or list it in "
                               f"cohorts.{cohort}.clinical.arm.exclude_values.")
            # arms are written as config names them, so later steps compare exactly
            out["arm"] = label.fillna("").astype(str).to_numpy()
            records.append({"mapping": "arm", "column": str(arm_cfg["column"]),
                            "kept": int(label.notna().sum()),
                            "dropped": counts["excluded"] + counts["missing"],
                            "arms": {k: v for k, v in counts.items()
                                     if k not in ("excluded", "missing")},
                            "excluded": counts["excluded"], "missing": counts["missing"]})
        else:
            out["arm"] = col.map(lambda v: "" if _isnull(v) else str(v).strip()).to_numpy()
    for cov in mapping.get("covariates", []):
        out[cov] = need(cov, "covariates").to_numpy()
    out.attrs["mapping"] = records
    out.attrs["ids_stripped"] = ids_stripped
    for r in records:
        log.info("%s: %s from column '%s': %d kept, %d dropped (%s)", cohort, r["mapping"],
                 r["column"], r["kept"], r["dropped"],
                 ", ".join(f"{k} {v}" for k, v in r.items()
                           if k not in ("mapping", "column", "kept", "dropped")))
    return out


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
    notes.clinical_ids_stripped = int(clinical.attrs.get("ids_stripped", 0))
    clin = clinical.set_index("sample_id")
    in_clin = expr.columns.isin(clin.index)
    notes.samples_without_clinical = [str(s) for s in expr.columns[~in_clin]]
    only_clin = clin.index.difference(expr.columns)
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
            f"(matrix: {list(expr.columns[:3])}..., clinical: {list(clin.index[:3])}...).",
            file=source, field="clinical.sample_id",
            fix="point clinical.sample_id at the column holding the matrix's sample ids.")
    if notes.samples_without_clinical or len(only_clin):
        log.warning("%s: %d matrix columns without a clinical row are kept with empty clinical "
                    "fields; %d clinical rows without a matrix column are not used", cohort,
                    len(notes.samples_without_clinical), len(only_clin))
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
