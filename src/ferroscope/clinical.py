"""Clinical input: a raw clinical table mapped to the standard one, strictly.

The standard clinical table has one row per sample: ``sample_id``, ``os_time_months``,
``os_event`` (1 = death), optional ``{rfs,dfs,pfi,dss}_time_months``/``_event``,
``response`` (1 responder, 0 non-responder, empty = not evaluable), ``title``, ``arm`` and the
covariates named in config (:func:`standardise_clinical`). Every value config maps is mapped
or stops the run; missing cells (:data:`MISSING_TOKENS`) are counted, never guessed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .constants import ENDPOINTS, MONTHS_PER_UNIT
from .errors import FerroscopeError

log = logging.getLogger(__name__)

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
    numbers = {float(v) for v in values if is_number(v)}
    hit = _norm(series).isin(text)
    if numbers:
        hit |= pd.to_numeric(series, errors="coerce").isin(numbers)
    return hit


def is_number(value: Any) -> bool:
    """Whether ``float(value)`` works (a number, or text such as '1', '2.5e3', 'nan')."""
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


@dataclass(frozen=True)
class _Table:
    """A raw clinical table with what its messages name (cohort, file)."""

    raw: pd.DataFrame
    cohort: str
    source: str

    def column(self, col: str, key: str) -> pd.Series:
        """The column config names under ``cohorts.<id>.clinical.<key>``, or a named stop."""
        if col not in self.raw.columns:
            raise FerroscopeError(
                f"column '{col}' named by cohorts.{self.cohort}.clinical.{key} is not in the "
                f"table (columns: {', '.join(map(str, self.raw.columns[:15]))}).",
                file=self.source, field=col,
                fix=f"correct cohorts.{self.cohort}.clinical.{key} in your config.")
        return self.raw[col]


def standardise_clinical(raw: pd.DataFrame, mapping: dict[str, Any], *, source: str,
                         cohort: str) -> pd.DataFrame:
    """Map a raw clinical table to the standard columns, with units in months.

    Strict value mapping: every value config declares (event, censoring, responder,
    non-responder, arm) must occur in the data, and every non-missing cell must be declared
    (or listed in ``exclude_values``, mapped to missing on purpose); otherwise one error lists
    every observed value with its count and the config key to edit. Missing cells (see
    :data:`MISSING_TOKENS`) become missing and are counted. The counts per mapping are in
    ``out.attrs["mapping"]`` (a list of dicts) for the prepare notes and the report, and the
    number of ids stripped of surrounding whitespace in ``out.attrs["ids_stripped"]``.
    """
    t = _Table(raw, cohort, source)
    sid, ids_stripped = _sample_ids(t, mapping["sample_id"])
    out = pd.DataFrame({"sample_id": sid.to_numpy()})
    records: list[dict[str, Any]] = []
    for ep in (e for e in ENDPOINTS if f"{e}_time" in mapping):
        months, event, record = _endpoint(t, ep, mapping[f"{ep}_time"],
                                          mapping[f"{ep}_event"], sid)
        out[f"{ep}_time_months"], out[f"{ep}_event"] = months, event
        records.append(record)
    resp_cfg = mapping.get("response")
    if resp_cfg is not None:
        out["response"], record = _response(t, resp_cfg)
        records.append(record)
    if "sample_title" in mapping:
        out["title"] = t.column(mapping["sample_title"], "sample_title").astype(str).to_numpy()
    arms = _arms(t, mapping.get("arm"), resp_cfg or {})
    if arms is not None:
        out["arm"] = arms[0]
        records += arms[1:]
    for cov in mapping.get("covariates", []):
        out[cov] = t.column(cov, "covariates").to_numpy()
    out.attrs["mapping"] = records
    out.attrs["ids_stripped"] = ids_stripped
    for r in records:
        log.info("%s: %s from column '%s': %d kept, %d dropped (%s)", cohort, r["mapping"],
                 r["column"], r["kept"], r["dropped"],
                 ", ".join(f"{k} {v}" for k, v in r.items()
                           if k not in ("mapping", "column", "kept", "dropped")))
    return out


def _sample_ids(t: _Table, col: str) -> tuple[pd.Series, int]:
    """Ids stripped of surrounding whitespace (counted); empty or repeated ids stop."""
    sid_raw = t.column(col, "sample_id")
    sid = sid_raw.astype(str).str.strip()
    stripped = int((sid != sid_raw.astype(str)).sum())
    if stripped:
        log.warning("%s: surrounding whitespace stripped from %d clinical sample id(s) "
                    "(column '%s')", t.cohort, stripped, col)
    if _missing(sid_raw).any():
        raise FerroscopeError(
            f"{int(_missing(sid_raw).sum())} row(s) have no sample id in column '{col}'.",
            file=t.source, field=col, fix="give every row a sample id or remove the empty rows.")
    if sid.duplicated().any():
        dups = sid[sid.duplicated(keep=False)].value_counts()
        raise FerroscopeError(
            f"sample id '{dups.index[0]}' appears more than once ({len(dups)} duplicated "
            f"id(s): {', '.join(f'{k} x{v}' for k, v in dups.head(5).items())}).",
            file=t.source, field=col, fix="keep one row per sample.")
    return sid, stripped


def _endpoint(t: _Table, ep: str, tmap: dict[str, Any], emap: dict[str, Any],
              sid: pd.Series) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """One survival endpoint: (time in months, event 1/0/NaN, mapping record)."""
    times = _times(t.column(tmap["column"], f"{ep}_time.column"), sid, key=f"{ep}_time",
                   cohort=t.cohort, source=t.source)
    if times.notna().sum() == 0:
        name = {"os": "overall survival"}.get(ep, ep.upper())
        raise FerroscopeError(
            f"no sample has {name} time: column '{tmap['column']}' is empty for all "
            f"{len(times)} samples (after the sample selection).", file=t.source,
            field=tmap["column"],
            fix=f"check the column named by cohorts.{t.cohort}.clinical.{ep}_time, the "
                "sample selection (survival is often given on tumour rows only) and the "
                "join of the supplementary table.")
    label, counts = _classify(
        t.column(emap["column"], f"{ep}_event.column"),
        {"event": (f"{ep}_event.event_values", emap["event_values"]),
         "censored": (f"{ep}_event.censor_values", emap.get("censor_values", [])),
         "excluded": (f"{ep}_event.exclude_values", emap.get("exclude_values", []))},
        key=f"{ep}_event", cohort=t.cohort, source=t.source,
        undeclared_fix=f"add each value to cohorts.{t.cohort}.clinical.{ep}_event."
                       "event_values (the event happened), censor_values (censored) or "
                       "exclude_values (mapped to missing on purpose).")
    ev = label.map({"event": 1.0, "censored": 0.0}).astype(float)
    months = times * MONTHS_PER_UNIT[tmap["unit"]]
    complete = months.notna() & ev.notna()
    return months.to_numpy(), ev.to_numpy(), {
        "mapping": f"{ep}_event", "column": str(emap["column"]),
        "kept": int(complete.sum()), "dropped": int((~complete).sum()),
        "events": int((ev[complete] == 1).sum()), "censored": int((ev[complete] == 0).sum()),
        "excluded": counts["excluded"], "event_missing": counts["missing"],
        "time_missing": int(months.isna().sum())}


def _response(t: _Table, cfg: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """Response 1 (responder) / 0 / NaN (not evaluable or missing), and its record."""
    label, counts = _classify(
        t.column(cfg["column"], "response.column"),
        {"responder": ("response.responder_values", cfg["responder_values"]),
         "non-responder": ("response.non_responder_values", cfg["non_responder_values"]),
         "excluded": ("response.exclude_values", cfg.get("exclude_values", []))},
        key="response", cohort=t.cohort, source=t.source,
        undeclared_fix=f"add each value to cohorts.{t.cohort}.clinical.response."
                       "responder_values, non_responder_values or exclude_values (not "
                       "evaluable, mapped to missing on purpose).")
    values = label.map({"responder": 1.0, "non-responder": 0.0}).astype(float).to_numpy()
    return values, {"mapping": "response", "column": str(cfg["column"]),
                    "kept": counts["responder"] + counts["non-responder"],
                    "dropped": counts["excluded"] + counts["missing"],
                    "responders": counts["responder"], "non_responders": counts["non-responder"],
                    "excluded": counts["excluded"], "missing": counts["missing"]}


def _arms(t: _Table, arm_cfg: dict[str, Any] | None,
          resp_cfg: dict[str, Any]) -> tuple[Any, ...] | None:
    """(arm per sample, mapping record if arms are named) or None without an arm mapping.

    With ``response.arm`` (and ``control_arm``) every value must be one of them or excluded,
    and arms are written as config names them, so later steps compare exactly; otherwise the
    column is copied (stripped)."""
    treated, control = resp_cfg.get("arm"), resp_cfg.get("control_arm")
    if (treated or control) and arm_cfg is None:
        raise FerroscopeError(
            "response.arm / response.control_arm name an arm, but the cohort has no `arm:` "
            "mapping saying which column holds the arms.", file=t.source,
            field=f"cohorts.{t.cohort}.clinical.arm",
            fix=f"add cohorts.{t.cohort}.clinical.arm: {{column: <column with the arms>}}, or "
                "remove response.arm and response.control_arm.")
    if arm_cfg is None:
        return None
    col = t.column(arm_cfg["column"], "arm.column")
    if not treated:
        return (col.map(lambda v: "" if _isnull(v) else str(v).strip()).to_numpy(),)
    groups = {str(treated): ("response.arm", [treated])}
    if control:
        groups[str(control)] = ("response.control_arm", [control])
    groups["excluded"] = ("arm.exclude_values", arm_cfg.get("exclude_values", []))
    label, counts = _classify(
        col, groups, key="arm", cohort=t.cohort, source=t.source,
        undeclared_fix=f"name the arm in cohorts.{t.cohort}.clinical.response.arm or "
                       f"control_arm, or list it in cohorts.{t.cohort}.clinical.arm."
                       "exclude_values.")
    return label.fillna("").astype(str).to_numpy(), {
        "mapping": "arm", "column": str(arm_cfg["column"]), "kept": int(label.notna().sum()),
        "dropped": counts["excluded"] + counts["missing"],
        "arms": {k: v for k, v in counts.items() if k not in ("excluded", "missing")},
        "excluded": counts["excluded"], "missing": counts["missing"]}
