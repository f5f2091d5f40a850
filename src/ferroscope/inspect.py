"""``ferroscope inspect``: look at a new cohort before writing its config entry.

Given a GEO accession (only the series matrix is fetched, through ``mirrors.geo`` of the
config, with :func:`ferroscope.download.fetch`) or a local file (a GEO series matrix, an
expression matrix, a clinical table), it prints:

* each sample characteristic (or clinical column) with its distinct values and counts;
* samples per platform and the series' supplementary files (``!Series_supplementary_file``);
* the expression value range and what it looks like (log2, linear, centred log ratios) with
  the fraction of missing cells (:func:`ferroscope.expression.guess_scale`);
* a suggested ``cohorts:`` entry, every guess marked with a ``# guess`` comment
  (:mod:`ferroscope.suggest` describes the values and writes the entry).

Everything works offline on local files. The suggested entry is valid config (it passes
:func:`ferroscope.config.validate_config`); the guesses (tumour selection, survival columns
and units, event values, the platform table) must be checked against the printed values.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import FerroscopeError
from .suggest import describe_values, expression_summary, suggest_entry

__all__ = ["Inspection", "inspect_source", "render", "suggest_entry"]

ACCESSION_RE = re.compile(r"^(GSE\d+)(?:-(GPL\d+))?$", re.I)
MATRIX_NAME_RE = re.compile(r"^(GSE\d+)(?:-(GPL\d+))?_series_matrix", re.I)


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
    from .expression import read_expression
    from .io import read_table

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
