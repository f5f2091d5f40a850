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

from .errors import FerroscopeError
from .genesets import AliasTable
from .io import atomic_path

log = logging.getLogger(__name__)

#: Time-to-event endpoints: overall, recurrence-free, disease-free, progression-free interval,
#: disease-specific survival. Each maps ``{ep}_time`` + ``{ep}_event`` in a cohort's config.
ENDPOINTS = ("os", "rfs", "dfs", "pfi", "dss")
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
        months = t * MONTHS_PER[tmap["unit"]]
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
    for r in records:
        log.info("%s: %s from column '%s': %d kept, %d dropped (%s)", cohort, r["mapping"],
                 r["column"], r["kept"], r["dropped"],
                 ", ".join(f"{k} {v}" for k, v in r.items()
                           if k not in ("mapping", "column", "kept", "dropped")))
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
