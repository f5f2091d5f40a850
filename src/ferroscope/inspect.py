"""``ferroscope inspect``: look at a new cohort before writing its config entry.

Given a GEO accession (only the series matrix is fetched, through ``mirrors.geo`` of the
config, with :func:`ferroscope.download.fetch`) or a local file (a GEO series matrix, an
expression matrix, a clinical table), it prints:

* each sample characteristic (or clinical column) with its distinct values and counts;
* samples per platform and the series' supplementary files (``!Series_supplementary_file``);
* the expression value range and what it looks like (log2, linear, centred log ratios) with
  the fraction of missing cells (:func:`ferroscope.prepare.guess_scale`);
* a suggested ``cohorts:`` entry, every guess marked with a ``# guess`` comment.

Everything works offline on local files. The suggested entry is valid config (it passes
:func:`ferroscope.config.validate_config`); the guesses (tumour selection, survival columns
and units, event values, the platform table) must be checked against the printed values.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import FerroscopeError

ACCESSION_RE = re.compile(r"^(GSE\d+)(?:-(GPL\d+))?$", re.I)
MATRIX_NAME_RE = re.compile(r"^(GSE\d+)(?:-(GPL\d+))?_series_matrix", re.I)
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


@dataclass
class Inspection:
    """What inspect found in one source."""

    source: str
    kind: str                                   # "geo", "expression", "clinical"
    accession: str = ""
    platform: str = ""
    title: str = ""
    platforms: dict[str, int] = field(default_factory=dict)    # GPL -> samples
    series_platforms: list[str] = field(default_factory=list)
    supplementary: list[str] = field(default_factory=list)
    samples: pd.DataFrame | None = None         # sample x characteristic (geo) or clinical
    expression: pd.DataFrame | None = None      # genes/probes x samples
    clinical: pd.DataFrame | None = None        # local clinical table (or GEO supplement)
    clinical_path: str = ""


# --- reading ------------------------------------------------------------------------------

def _open_text(path: Path):
    return (gzip.open(path, "rt", encoding="utf-8", errors="replace")
            if path.name.lower().endswith(".gz") else
            open(path, encoding="utf-8", errors="replace"))


def is_series_matrix(path: Path) -> bool:
    try:
        with _open_text(path) as fh:
            for line in fh:
                if line.strip():
                    return line.startswith("!Series_") or line.startswith("^SERIES")
    except (OSError, EOFError) as exc:
        raise FerroscopeError(f"cannot be read ({exc}).", file=str(path),
                              fix="check the file (a truncated download?).") from exc
    return False


def read_geo(path: Path) -> Inspection:
    """A GEO series matrix: samples, characteristics, platforms, supplements, values."""
    from .sources import geo

    sm = geo.read_series_matrix(path)
    header = sm.header
    m = MATRIX_NAME_RE.match(path.name)
    acc = (header.get("Series_geo_accession") or [[m.group(1) if m else ""]])[0][0]
    per_sample = [p for row in header.get("Sample_platform_id", []) for p in row]
    platforms = dict(pd.Series(per_sample).value_counts().sort_index()) if per_sample else {}
    series_platforms = [p for row in header.get("Series_platform_id", []) for p in row]
    platform = (m.group(2) if m and m.group(2) else "") or (
        per_sample[0] if per_sample else (series_platforms[0] if series_platforms else ""))
    supp = [c.rsplit("/", 1)[-1] for row in header.get("Series_supplementary_file", [])
            for c in row if c]
    return Inspection(
        source=str(path), kind="geo", accession=acc, platform=platform,
        title=(header.get("Series_title") or [[""]])[0][0],
        platforms={str(k): int(v) for k, v in platforms.items()},
        series_platforms=series_platforms, supplementary=supp,
        samples=sm.samples, expression=sm.expression)


def _looks_like_expression(df: pd.DataFrame) -> bool:
    if df.shape[1] < 3:
        return False
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns[1:]]
    return float(np.mean(numeric)) >= 0.9 and len(df) >= 20


def read_local(path: Path, clinical: Path | None = None) -> Inspection:
    """A local expression matrix (optionally with its clinical table), or a clinical table."""
    from .io import read_table
    from .prepare import read_expression

    if clinical is None:
        df = read_table(path, what="table to inspect")
        if not _looks_like_expression(df):
            return Inspection(source=str(path), kind="clinical", clinical=df,
                              clinical_path=str(path))
    expr = read_expression(str(path), what="expression matrix to inspect")
    out = Inspection(source=str(path), kind="expression", expression=expr)
    if clinical is not None:
        out.clinical = read_table(clinical, what="clinical table to inspect")
        out.clinical_path = str(clinical)
    return out


def fetch_series_matrix(accession: str, *, config_path: str | Path | None, cache: Path,
                        platform: str | None = None) -> Path:
    """Download only the series matrix of ``accession`` through the configured GEO mirror."""
    import yaml

    from .download import fetch
    from .sources import geo

    m = ACCESSION_RE.match(accession)
    if not m:
        raise FerroscopeError(f"'{accession}' is neither a file nor a GEO series accession.",
                              field="SOURCE",
                              fix="give a path to a local file, or an accession like GSE14520 "
                                  "(GSE14520-GPL571 for one platform of a multi-platform "
                                  "series).")
    gse, gpl = m.group(1).upper(), (platform or m.group(2) or None)
    cfg: dict[str, Any] = {}
    if config_path is not None and Path(config_path).is_file():
        cfg = yaml.safe_load(Path(config_path).read_text()) or {}
    base = (cfg.get("mirrors") or {}).get("geo", "https://ftp.ncbi.nlm.nih.gov/geo")
    dl = cfg.get("download") or {}
    url = geo.series_matrix_url(base, gse, gpl.upper() if gpl else None)
    dest = cache / url.rsplit("/", 1)[1]
    try:
        return fetch(url, dest, retries=int(dl.get("retries", 5)),
                     backoff=float(dl.get("backoff_seconds", 2)),
                     timeout=float(dl.get("timeout_seconds", 60)), field="mirrors.geo")
    except FerroscopeError as err:
        if gpl is None and "does not exist" in str(err):
            raise FerroscopeError(
                f"{url} does not exist: the series may have several platforms, each with its "
                "own matrix.", field="--platform",
                fix=f"pass --platform GPLnnn (or {gse}-GPLnnn); GEO lists the platforms on the "
                    "series page.") from err
        raise


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
    from .prepare import guess_scale

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
                                          for v in rest if _is_number(v)] if numeric else rest),
                       "observed": vals}
    return out


def _is_number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


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


def suggest_entry(ins: Inspection, *, cohort_id: str | None = None) -> str:
    """A ``cohorts:`` YAML block for the inspected source; guesses carry ``# guess`` comments.

    Value lists follow the strict mapping (README "Strict value mapping"): every observed value
    is placed in one list (``event_values`` / ``censor_values``, ``values`` /
    ``exclude_values``, responder / non-responder / ``exclude_values``), so the entry runs.
    """
    strict = {"censor_values": True, "keep_exclude": True, "response_exclude": True}
    lines: list[str] = []
    add = lines.append
    scale = "auto"
    scale_note = ""
    if ins.expression is not None:
        _, scale = expression_summary(ins.expression)
        scale_note = {"log2": "log-scale values", "linear": "unlogged values: log2(x + 1)",
                      "log_ratio": "centred log ratios: scores mean up/down against the "
                                   "reference (e.g. the patient's own liver)"}.get(scale, "")
        if scale == "unknown":
            scale = "auto"
    if ins.kind == "geo":
        cid = cohort_id or (f"{ins.accession}_{ins.platform}" if len(ins.series_platforms) > 1
                            else ins.accession)
        samples = ins.samples if ins.samples is not None else pd.DataFrame()
        table = samples.reset_index()
        add("cohorts:")
        add(f"  {cid}:")
        add("    source: geo")
        add(f"    accession: {ins.accession}")
        add(f"    platform: {ins.platform}")
        if len(ins.series_platforms) > 1:
            add(f"    multi_platform: true            # series platforms: "
                f"{', '.join(ins.series_platforms)}")
        add(f"    description: {_q(ins.title[:100] or cid)}")
        add("    probe_table:                     # guess: GEO's annotation file; check that it "
            "exists, else give url: of the full platform table")
        add(f"      file: {ins.platform}.annot.gz")
        add("      probe_column: ID")
        add("      symbol_column: \"Gene symbol\"")
        keep = guess_keep(samples)
        if keep:
            counts = dict(value_counts(samples[keep["characteristic"]]))
            kept = sum(counts[v] for v in keep["values"])
            add(f"    samples:                         # guess: keeps {kept} of {len(samples)} "
                "samples (tumours)")
            excl = (f", exclude_values: {_q(keep['exclude_values'])}"
                    if strict["keep_exclude"] and keep["exclude_values"] else "")
            add(f"      keep: {{characteristic: {_q(keep['characteristic'])}, values: "
                f"{_q(keep['values'])}{excl}}}")
        if ins.clinical is not None:
            idc, n = guess_id_column(ins.clinical, samples.index)
            if idc is not None:
                add(f"    clinical_supplement:             # guess: {n} rows match a GSM id; "
                    "the file must be a supplementary file of the series on the mirror")
                add(f"      file: {_q(Path(ins.clinical_path).name)}")
                add(f"      id_column: {_q(idc)}")
                table = table.merge(ins.clinical, how="left", left_on="geo_accession",
                                    right_on=idc, suffixes=("", ".supplement"))
            else:
                add(f"    # no column of {Path(ins.clinical_path).name} holds the GSM ids: "
                    "no clinical_supplement suggested")
        elif ins.supplementary:
            add(f"    # supplementary files that may hold clinical data: "
                f"{', '.join(ins.supplementary)}")
            add("    # (run ferroscope inspect again with --clinical FILE to map one)")
        add(f"    expression_scale: {scale}" + (f"         # guess: {scale_note}"
                                                   if scale_note else ""))
        add("    clinical:")
        add("      sample_id: geo_accession")
        add("      sample_title: title")
    else:
        cid = cohort_id or re.sub(r"[^A-Za-z0-9_.-]", "_",
                                  Path(ins.source).name.split(".")[0]) or "my_cohort"
        table = ins.clinical if ins.clinical is not None else pd.DataFrame()
        add("cohorts:")
        add(f"  {cid}:")
        add("    source: local")
        add(f"    description: {_q(cid)}")
        add(f"    expression: {_q(ins.source)}")
        add(f"    clinical_table: {_q(ins.clinical_path or 'PATH/TO/clinical.tsv')}")
        add(f"    expression_scale: {scale}" + (f"         # guess: {scale_note}"
                                                   if scale_note else ""))
        if ins.expression is not None:
            missing = float(ins.expression.isna().to_numpy().mean())
            if missing > 0:
                add(f"    missing: {{max_fraction: 0.2}}   # {missing:.1%} of cells missing: "
                    "genes missing in > 20% of samples are dropped")
        add("    clinical:")
        sid = None
        if ins.expression is not None and not table.empty:
            sid, n = guess_id_column(table, ins.expression.columns)
            if sid:
                add(f"      sample_id: {_q(sid)}          # guess: {n} of "
                    f"{ins.expression.shape[1]} matrix columns found in this column")
        if sid is None:
            first = str(table.columns[0]) if not table.empty else "sample"
            add(f"      sample_id: {_q(first)}          # guess: the column holding the "
                "matrix's sample ids")
    if not table.empty:
        eps = guess_endpoints(table)
        for ep, g in eps.items():
            unit_note = "unit not in the column name: CHECK" if g["unit_guessed"] else \
                "unit from the column name"
            add(f"      {ep}_time: {{column: {_q(g['time'])}, unit: {g['unit']}}}   # guess: "
                f"{unit_note}")
            censor = (f", censor_values: {_q(g['censor_values'])}"
                      if strict["censor_values"] else "")
            add(f"      {ep}_event: {{column: {_q(g['event'])}, event_values: "
                f"{_q(g['event_values'])}{censor}}}   # guess; values seen: {g['observed']}")
        resp = guess_response(table)
        if resp:
            add(f"      response:                      # guess; values seen: {resp['observed']}")
            add(f"        column: {_q(resp['column'])}")
            add(f"        responder_values: {_q(resp['responder_values'])}")
            add(f"        non_responder_values: {_q(resp['non_responder_values'])}")
            if strict["response_exclude"] and resp["exclude_values"]:
                add(f"        exclude_values: {_q(resp['exclude_values'])}   # not evaluable")
        if not eps and not resp:
            add("      # no survival or response column recognised: add os_time/os_event or "
                "response (see the values listed above)")
    return "\n".join(lines) + "\n"


def render(ins: Inspection, *, cohort_id: str | None = None) -> str:
    """The full printout: what is in the source, then the suggested entry."""
    out: list[str] = [f"# ferroscope inspect: {ins.source}"]
    if ins.kind == "geo":
        out.append(f"series {ins.accession}: {ins.title}")
        out.append("samples per platform: " + (", ".join(
            f"{k} ({v})" for k, v in ins.platforms.items()) or "not stated"))
        if len(ins.series_platforms) > 1:
            out.append(f"the series has {len(ins.series_platforms)} platforms "
                       f"({', '.join(ins.series_platforms)}): one matrix per platform")
        out.append("supplementary files: " + (", ".join(ins.supplementary) or "none"))
        samples = ins.samples if ins.samples is not None else pd.DataFrame()
        out.append(f"characteristics ({len(samples)} samples; keys as config uses them):")
        for col in samples.columns:
            if col in ("title", "source_name"):
                continue
            out.append(f"  {col}: {describe_values(samples[col])}")
    if ins.expression is not None:
        text, _ = expression_summary(ins.expression)
        out.append(f"expression: {text}")
    if ins.clinical is not None:
        out.append(f"clinical table {ins.clinical_path} ({len(ins.clinical)} rows):")
        for col in ins.clinical.columns:
            out.append(f"  {col}: {describe_values(ins.clinical[col])}")
    out.append("")
    out.append("# suggested entry (paste under `cohorts:` of config/config.yaml; check every "
               "'# guess'):")
    out.append(suggest_entry(ins, cohort_id=cohort_id))
    return "\n".join(out)


def inspect_source(source: str, *, clinical: str | None = None, platform: str | None = None,
                   config_path: str | None = "config/config.yaml",
                   cache: str | Path = "resources/inspect") -> Inspection:
    """Read ``source`` (a file or a GEO accession) and, optionally, a clinical table."""
    path = Path(source)
    if not path.exists():
        if not ACCESSION_RE.match(source):
            raise FerroscopeError("no such file, and not a GEO accession.", file=source,
                                  fix="give an existing file or an accession like GSE14520.")
        path = fetch_series_matrix(source, config_path=config_path, cache=Path(cache),
                                   platform=platform)
    clin = Path(clinical) if clinical else None
    if clin is not None and not clin.exists():
        raise FerroscopeError("file does not exist.", file=str(clin), field="--clinical",
                              fix="give the clinical table (or GEO supplementary table).")
    if is_series_matrix(path):
        ins = read_geo(path)
        if clin is not None:
            from .io import read_table

            ins.clinical = read_table(clin, what="clinical table to inspect")
            ins.clinical_path = str(clin)
        return ins
    return read_local(path, clin)
