"""Describing an inspected cohort and suggesting its config entry (``ferroscope inspect``).

:mod:`ferroscope.inspect` reads the source into an :class:`~ferroscope.inspect.Inspection`;
this module describes its values (distinct values with counts, the expression range and scale)
and guesses a ``cohorts:`` entry: the tumour selection, survival columns and units, event and
response values, the sample-id column. The entry is built as a dict and written as YAML by
:func:`dump_entry`, every guess marked with a ``# guess`` comment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .clinical import is_number

if TYPE_CHECKING:
    from .inspect import Inspection

TUMOUR_RE = re.compile(r"tumou?r|cancer|carcinoma|\bhcc\b|malignan", re.I)
NON_TUMOUR_RE = re.compile(r"non[- ]?tumou?r|normal|adjacent|non[- ]?cancer|healthy|"
                           r"cirrho|benign|peritumou?r", re.I)
EVENT_TRUE = re.compile(r"^(1|dead|deceased|died|death|yes|true|event|recurr\w*|relapse\w*|"
                        r"progress\w*)$", re.I)
RESPONDER_RE = re.compile(r"^(cr|pr|complete\b.*|partial\b.*|responders?|yes)$", re.I)
NON_RESPONDER_RE = re.compile(r"^(sd|pd|stable\b.*|progress\w*|non[- ]?responders?|no)$", re.I)
ENDPOINT_WORDS = {
    "os": r"\bos\b|os[._ ]|overall|surviv|death|vital",
    "rfs": r"\brfs\b|rfs[._ ]|recur|relapse|\bdfs\b",
    "pfi": r"\bpfs\b|pfs[._ ]|\bpfi\b|progression",
}
UNIT_WORDS = [("days", r"day"), ("weeks", r"week|wk"), ("years", r"year|yr"),
              ("months", r"month|mo\b|mth")]
MAX_VALUES_SHOWN = 12


# --- describing -----------------------------------------------------------------------------

def value_counts(series: pd.Series) -> list[tuple[str, int]]:
    s = series.dropna().astype(str).str.strip()
    s = s[s != ""]
    vc = s.value_counts()
    return [(str(k), int(v)) for k, v in vc.items()]


def describe_values(series: pd.Series) -> str:
    n_missing = int(series.isna().sum() + (series.dropna().astype(str).str.strip() == "").sum())
    num = pd.to_numeric(series, errors="coerce")
    if num.notna().sum() and num.notna().sum() == series.notna().sum() and num.nunique() > 12:
        return (f"numeric, {num.min():.4g} to {num.max():.4g} (median {num.median():.4g}), "
                f"{int(num.isna().sum())} missing")
    counts = value_counts(series)
    shown = ", ".join(f"{v!r} ({n})" for v, n in counts[:MAX_VALUES_SHOWN])
    more = f", ... ({len(counts)} distinct)" if len(counts) > MAX_VALUES_SHOWN else ""
    miss = f"; {n_missing} empty" if n_missing else ""
    return f"{shown}{more}{miss}"


def expression_summary(expr: pd.DataFrame) -> tuple[str, str]:
    """(text line, scale guess) for a genes x samples matrix."""
    from .expression import guess_scale

    x = expr.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    fin = x[np.isfinite(x)]
    missing = float(np.isnan(x).mean()) if x.size else 0.0
    scale, why = guess_scale(x)
    if fin.size == 0:
        return f"{expr.shape[0]} rows x {expr.shape[1]} samples; no finite value", scale
    text = (f"{expr.shape[0]} rows x {expr.shape[1]} samples; values {fin.min():.4g} to "
            f"{fin.max():.4g} (median {np.median(fin):.4g}, 99th percentile "
            f"{np.percentile(fin, 99):.4g}); {float((fin < 0).mean()):.1%} negative; "
            f"{missing:.1%} of cells missing "
            f"({int((np.isnan(x).mean(axis=1) > 0.2).sum())} rows missing in > 20% of samples)"
            f"\n  looks like: {scale} ({why})")
    return text, scale


# --- guessing the config entry ----------------------------------------------------------------

def guess_keep(samples: pd.DataFrame) -> dict[str, Any] | None:
    """A characteristic that separates tumours from non-tumours: keep the tumour values."""
    for col in samples.columns:
        if col in ("title", "source_name"):
            continue
        values = [v for v, _ in value_counts(samples[col])]
        if len(values) < 2 or len(values) > 10:
            continue
        tumour = [v for v in values if TUMOUR_RE.search(v) and not NON_TUMOUR_RE.search(v)]
        if tumour and len(tumour) < len(values):
            return {"characteristic": col, "values": tumour,
                    "exclude_values": [v for v in values if v not in tumour]}
    return None


def _unit(name: str) -> str | None:
    low = name.lower()
    for unit, pat in UNIT_WORDS:
        if re.search(pat, low):
            return unit
    return None


def guess_endpoints(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """{endpoint: {time, unit, unit_guessed, event, event_values}} from column names/values."""
    out: dict[str, dict[str, Any]] = {}
    cols = [str(c) for c in table.columns]
    for ep, words in ENDPOINT_WORDS.items():
        cands = [c for c in cols if re.search(words, c.lower())]
        times = [c for c in cands if re.search(r"time|month|day|year|week|dur|surv\w*\.?m",
                                               c.lower())
                 and pd.to_numeric(table[c], errors="coerce").notna().sum() >= 3]
        events = []
        for c in cands:
            if c in times:
                continue
            vals = [v for v, _ in value_counts(table[c])]
            if 2 <= len(vals) <= 4 and any(EVENT_TRUE.match(v.strip()) or _is_one(v)
                                           for v in vals):
                events.append(c)
        if times and events:
            t, e = times[0], events[0]
            vals = [v for v, _ in value_counts(table[e])]
            ev = [v for v in vals if _is_one(v)] or [v for v in vals if EVENT_TRUE.match(v)]
            rest = [v for v in vals if v not in ev]
            numeric = bool(ev) and _is_one(ev[0])
            unit = _unit(t)
            out[ep] = {"time": t, "unit": unit or "months", "unit_guessed": unit is None,
                       "event": e, "event_values": [1] if numeric else ev,
                       "censor_values": ([int(float(v)) if float(v).is_integer() else float(v)
                                          for v in rest if is_number(v)] if numeric else rest),
                       "observed": vals}
    return out


def _is_one(v: str) -> bool:
    try:
        return float(v) == 1.0
    except ValueError:
        return False


def guess_response(table: pd.DataFrame) -> dict[str, Any] | None:
    for c in table.columns:
        if not re.search(r"respon|recist|outcome|benefit", str(c).lower()):
            continue
        vals = [v for v, _ in value_counts(table[c])]
        yes = [v for v in vals if RESPONDER_RE.match(v.strip())]
        no = [v for v in vals if NON_RESPONDER_RE.match(v.strip())]
        if yes and no:
            return {"column": str(c), "responder_values": yes, "non_responder_values": no,
                    "exclude_values": [v for v in vals if v not in yes and v not in no],
                    "observed": vals}
    return None


def guess_id_column(table: pd.DataFrame, ids: Iterable[str]) -> tuple[str | None, int]:
    ids = {str(i).strip() for i in ids}
    best, n_best = None, 0
    for c in table.columns:
        n = int(table[c].astype(str).str.strip().isin(ids).sum())
        if n > n_best:
            best, n_best = str(c), n
    return best, n_best


def _q(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


#: Plain YAML words (written unquoted); anything else is written as JSON, which YAML reads.
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_RESERVED = {"yes", "no", "on", "off", "true", "false", "null", "y", "n"}
Notes = dict[tuple[str, ...], str]


def _scalar(value: Any) -> str:
    if isinstance(value, str) and _PLAIN.match(value) and value.lower() not in _RESERVED:
        return value
    return _q(value)


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return _q(value)
    return _scalar(value)


def dump_entry(tree: dict[str, Any], notes: Notes, path: tuple[str, ...] = (),
               depth: int = 0) -> list[str]:
    """YAML lines of ``tree``: a mapping of scalars and lists fitting in 100 columns is written
    in flow style on one line; ``notes[path]`` becomes a trailing ``# comment`` of that key;
    a key starting with ``#`` is a comment line (its value the text)."""
    out = []
    pad = "  " * depth
    for key, value in tree.items():
        if key.startswith("#"):
            out.append(f"{pad}# {value}")
            continue
        tail = f"   # {notes[path + (key,)]}" if path + (key,) in notes else ""
        line = f"{pad}{key}: {_flow(value)}"
        if isinstance(value, dict) and (len(line) > 100 or any(
                isinstance(v, dict) for v in value.values())):
            out.append(f"{pad}{key}:{tail}")
            out += dump_entry(value, notes, path + (key,), depth + 1)
        else:
            out.append(line + tail)
    return out


def _scale_guess(ins: Inspection) -> tuple[str, str]:
    """(expression_scale to suggest, what it means) from the inspected matrix."""
    if ins.expression is None:
        return "auto", ""
    _, scale = expression_summary(ins.expression)
    note = {"log2": "log-scale values", "linear": "unlogged values: log2(x + 1)",
            "log_ratio": "centred log ratios: scores mean up/down against the reference "
                         "(e.g. the patient's own liver)"}.get(scale, "")
    return ("auto" if scale == "unknown" else scale), note


def _geo_entry(ins: Inspection, cohort_id: str | None, notes: Notes
               ) -> tuple[str, dict[str, Any], pd.DataFrame]:
    """The GEO keys of a suggested entry, and the table its clinical guesses read."""
    cid = cohort_id or (f"{ins.accession}_{ins.platform}" if len(ins.series_platforms) > 1
                        else ins.accession)
    samples = ins.samples if ins.samples is not None else pd.DataFrame()
    table = samples.reset_index()
    e: dict[str, Any] = {"source": "geo", "accession": ins.accession, "platform": ins.platform}
    if len(ins.series_platforms) > 1:
        e["multi_platform"] = True
        notes[("multi_platform",)] = f"series platforms: {', '.join(ins.series_platforms)}"
    e["description"] = ins.title[:100] or cid
    e["probe_table"] = {"file": f"{ins.platform}.annot.gz", "probe_column": "ID",
                        "symbol_column": "Gene symbol"}
    notes[("probe_table",)] = ("guess: GEO's annotation file; check that it exists, else give "
                               "url: of the full platform table")
    keep = guess_keep(samples)
    if keep:
        counts = dict(value_counts(samples[keep["characteristic"]]))
        e["samples"] = {"keep": {"characteristic": keep["characteristic"],
                                 "values": keep["values"]}}
        if keep["exclude_values"]:
            e["samples"]["keep"]["exclude_values"] = keep["exclude_values"]
        notes[("samples",)] = (f"guess: keeps {sum(counts[v] for v in keep['values'])} of "
                               f"{len(samples)} samples (tumours)")
    if ins.clinical is not None:
        idc, n = guess_id_column(ins.clinical, samples.index)
        if idc is not None:
            e["clinical_supplement"] = {"file": Path(ins.clinical_path).name, "id_column": idc}
            notes[("clinical_supplement",)] = (f"guess: {n} rows match a GSM id; the file must "
                                               "be a supplementary file of the series on the "
                                               "mirror")
            table = table.merge(ins.clinical, how="left", left_on="geo_accession",
                                right_on=idc, suffixes=("", ".supplement"))
        else:
            e["#supplement"] = (f"no column of {Path(ins.clinical_path).name} holds the GSM "
                                "ids: no clinical_supplement suggested")
    elif ins.supplementary:
        e["#supplement"] = ("supplementary files that may hold clinical data: "
                            f"{', '.join(ins.supplementary)}")
        e["#clinical"] = "(run ferroscope inspect again with --clinical FILE to map one)"
    e["clinical"] = {"sample_id": "geo_accession", "sample_title": "title"}
    return cid, e, table


def _local_entry(ins: Inspection, cohort_id: str | None, notes: Notes
                 ) -> tuple[str, dict[str, Any], pd.DataFrame]:
    """The local keys of a suggested entry, and the clinical table its guesses read."""
    cid = cohort_id or re.sub(r"[^A-Za-z0-9_.-]", "_",
                              Path(ins.source).name.split(".")[0]) or "my_cohort"
    table = ins.clinical if ins.clinical is not None else pd.DataFrame()
    e: dict[str, Any] = {"source": "local", "description": cid, "expression": ins.source,
                         "clinical_table": ins.clinical_path or "PATH/TO/clinical.tsv"}
    if ins.expression is not None:
        missing = float(ins.expression.isna().to_numpy().mean())
        if missing > 0:
            e["missing"] = {"max_fraction": 0.2}
            notes[("missing",)] = (f"{missing:.1%} of cells missing: genes missing in > 20% "
                                   "of samples are dropped")
    sid, n = (guess_id_column(table, ins.expression.columns)
              if ins.expression is not None and not table.empty else (None, 0))
    if sid:
        notes[("clinical", "sample_id")] = (f"guess: {n} of {ins.expression.shape[1]} matrix "
                                            "columns found in this column")
    else:
        sid = str(table.columns[0]) if not table.empty else "sample"
        notes[("clinical", "sample_id")] = "guess: the column holding the matrix's sample ids"
    e["clinical"] = {"sample_id": sid}
    return cid, e, table


def _outcome_guesses(clinical: dict[str, Any], notes: Notes, table: pd.DataFrame) -> None:
    """Survival endpoints and response guessed from ``table``, each observed value in a list."""
    if table.empty:
        return
    eps = guess_endpoints(table)
    for ep, g in eps.items():
        clinical[f"{ep}_time"] = {"column": g["time"], "unit": g["unit"]}
        notes[("clinical", f"{ep}_time")] = "guess: " + (
            "unit not in the column name: CHECK" if g["unit_guessed"] else
            "unit from the column name")
        clinical[f"{ep}_event"] = {"column": g["event"], "event_values": g["event_values"],
                                   "censor_values": g["censor_values"]}
        notes[("clinical", f"{ep}_event")] = f"guess; values seen: {g['observed']}"
    resp = guess_response(table)
    if resp:
        clinical["response"] = {k: resp[k] for k in ("column", "responder_values",
                                                     "non_responder_values")}
        if resp["exclude_values"]:
            clinical["response"]["exclude_values"] = resp["exclude_values"]
            notes[("clinical", "response", "exclude_values")] = "not evaluable"
        notes[("clinical", "response")] = f"guess; values seen: {resp['observed']}"
    if not eps and not resp:
        clinical["#outcome"] = ("no survival or response column recognised: add "
                                "os_time/os_event or response (see the values listed above)")


def suggest_entry(ins: Inspection, *, cohort_id: str | None = None) -> str:
    """A ``cohorts:`` YAML block for the inspected source; guesses carry ``# guess`` comments.

    The entry is built as a dict (:func:`_geo_entry` or :func:`_local_entry`, then
    :func:`_outcome_guesses`) and written by :func:`dump_entry`. Value lists follow the
    strict mapping (docs/cohorts.md): every observed value is placed in one list
    (``event_values`` / ``censor_values``, ``values`` / ``exclude_values``, responder /
    non-responder / ``exclude_values``), so the entry runs.
    """
    notes: Notes = {}
    build = _geo_entry if ins.kind == "geo" else _local_entry
    cid, entry, table = build(ins, cohort_id, notes)
    scale, scale_note = _scale_guess(ins)
    clinical = entry.pop("clinical")
    entry["expression_scale"] = scale
    if scale_note:
        notes[("expression_scale",)] = f"guess: {scale_note}"
    entry["clinical"] = clinical
    _outcome_guesses(clinical, notes, table)
    rooted = {("cohorts", cid) + path: text for path, text in notes.items()}
    return "\n".join(dump_entry({"cohorts": {cid: entry}}, rooted)) + "\n"
