"""GEO: series matrix, supplementary files and platform tables -> the standard cohort pair.

URLs (``base`` is ``mirrors.geo`` in config, default ``https://ftp.ncbi.nlm.nih.gov/geo``)::

    {base}/series/GSE14nnn/GSE14520/matrix/GSE14520-GPL571_series_matrix.txt.gz
    {base}/series/GSE14nnn/GSE14520/suppl/GSE14520_Extra_Supplement.txt.gz
    {base}/platforms/GPL5nnn/GPL571/annot/GPL571.annot.gz

A series with several platforms has one matrix per platform (``GSE-GPL`` in the file name);
config names the platform. Harmonisation, in order:

1. **Samples**: ``!Sample_*`` header lines become a sample table; every
   ``!Sample_characteristics_ch1`` cell ``"Key: value"`` becomes a column ``key`` (lower-cased,
   so GEO's inconsistent ``Tissue``/``tissue`` merge). ``samples.keep`` selects samples by one
   such column (e.g. tumours only).
2. **Probes -> HGNC symbols** through a platform table (probe and symbol columns named in
   config; GEO ``.annot`` files use ``ID`` / ``Gene symbol``). Probes with no symbol or several
   (``A /// B``) are dropped; several probes of one gene are collapsed later by the prepare step,
   keeping the most variable probe (the usual choice for Affymetrix arrays; documented in the
   prepare notes of every cohort).
3. **Clinical**: columns from the sample table, optionally joined with a supplementary table on
   the GSM accession (``clinical_supplement.id_column``).
"""

from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import FerroscopeError

GSE_RE = re.compile(r"^GSE\d+$")
GPL_RE = re.compile(r"^GPL\d+$")


def _stub(acc: str) -> str:
    """GEO's folder stub: GSE14520 -> GSE14nnn, GSE123 -> GSEnnn, GPL571 -> GPLnnn."""
    prefix, digits = acc[:3], acc[3:]
    return f"{prefix}{digits[:-3]}nnn"


def series_matrix_url(base: str, gse: str, gpl: str | None = None) -> str:
    name = f"{gse}-{gpl}_series_matrix.txt.gz" if gpl else f"{gse}_series_matrix.txt.gz"
    return f"{base.rstrip('/')}/series/{_stub(gse)}/{gse}/matrix/{name}"


def supplement_url(base: str, gse: str, file: str) -> str:
    return f"{base.rstrip('/')}/series/{_stub(gse)}/{gse}/suppl/{file}"


def platform_annot_url(base: str, gpl: str) -> str:
    return f"{base.rstrip('/')}/platforms/{_stub(gpl)}/{gpl}/annot/{gpl}.annot.gz"


@dataclass
class SeriesMatrix:
    expression: pd.DataFrame  # probes x GSM
    samples: pd.DataFrame     # GSM x (title, source_name, characteristics...)
    platforms: list[str]


def _cells(line: str) -> list[str]:
    return [c.strip().strip('"') for c in line.rstrip("\n").split("\t")[1:]]


def read_series_matrix(path: str | Path) -> SeriesMatrix:
    """Parse a GEO series matrix (gzipped or not)."""
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    header: dict[str, list[list[str]]] = {}
    table: list[str] = []
    state = "header"
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if state == "header":
                if line.startswith("!series_matrix_table_begin"):
                    state = "table"
                elif line.startswith("!"):
                    key = line.split("\t", 1)[0][1:].strip()
                    header.setdefault(key, []).append(_cells(line))
            elif state == "table":
                if line.startswith("!series_matrix_table_end"):
                    state = "end"
                    break
                table.append(line)
    if state == "header":
        raise FerroscopeError("no '!series_matrix_table_begin' line: this is not a GEO series "
                              "matrix, or the file is truncated.", file=str(path),
                              fix="check the accession and platform in config; delete the file "
                                  "to download it again.")
    if state != "end":
        raise FerroscopeError("no '!series_matrix_table_end' line: the file is truncated.",
                              file=str(path), fix="delete the file to download it again.")
    expr = pd.read_csv(io.StringIO("".join(table)), sep="\t", index_col=0, quotechar='"')
    expr.index = expr.index.astype(str)
    gsm = [g for row in header.get("Sample_geo_accession", []) for g in row]
    if not gsm:
        raise FerroscopeError("no !Sample_geo_accession line.", file=str(path),
                              fix="use the series matrix file from GEO.")
    if len(set(gsm)) != len(gsm):
        dup = next(g for g in gsm if gsm.count(g) > 1)
        raise FerroscopeError(f"sample id '{dup}' appears twice.", file=str(path),
                              field="!Sample_geo_accession", fix="use the original GEO file.")
    samples = pd.DataFrame(index=pd.Index(gsm, name="geo_accession"))
    for key, col in (("Sample_title", "title"), ("Sample_source_name_ch1", "source_name")):
        if key in header:
            samples[col] = header[key][0]
    for row in header.get("Sample_characteristics_ch1", []):
        for g, cell in zip(gsm, row, strict=False):
            if ":" in cell:
                k, v = cell.split(":", 1)
                samples.loc[g, k.strip().lower()] = v.strip()
    platforms = [p for row in header.get("Series_platform_id", []) for p in row]
    missing = [g for g in expr.columns if g not in samples.index]
    if missing:
        raise FerroscopeError(f"table column(s) {missing[:3]} are not among the samples.",
                              file=str(path), fix="use the original GEO file.")
    return SeriesMatrix(expr, samples, platforms)


def read_platform_table(path: str | Path, probe_column: str, symbol_column: str) -> pd.Series:
    """probe -> HGNC symbol from a platform table (GEO .annot/.soft table or a TSV)."""
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        lines = fh.readlines()
    begin = next((i for i, ln in enumerate(lines) if ln.startswith("!platform_table_begin")),
                 None)
    if begin is not None:  # GEO .annot / SOFT layout
        end = next((i for i, ln in enumerate(lines) if ln.startswith("!platform_table_end")),
                   len(lines))
        lines = lines[begin + 1:end]
    else:
        lines = [ln for ln in lines if not ln.startswith(("#", "!", "^"))]
    table = pd.read_csv(io.StringIO("".join(lines)), sep="\t", dtype=str)
    for col in (probe_column, symbol_column):
        if col not in table.columns:
            raise FerroscopeError(f"column '{col}' not in the platform table (columns: "
                                  f"{list(table.columns)[:8]}).", file=str(path),
                                  field="probe_table", fix="name the probe and symbol columns.")
    return table.set_index(probe_column)[symbol_column]


def map_probes(expr: pd.DataFrame, symbols: pd.Series) -> tuple[pd.DataFrame, dict[str, int]]:
    """Rename probes to symbols; drop probes with no symbol or several ('///')."""
    sym = symbols.reindex(expr.index).fillna("").astype(str).str.strip()
    multi = sym.str.contains("///", regex=False)
    empty = (sym == "") | (sym == "---")
    keep = ~(multi | empty)
    out = expr.loc[keep.to_numpy()].copy()
    out.index = pd.Index(sym[keep].to_numpy(), name="gene")
    stats = {"probes": len(expr), "probes_no_symbol": int(empty.sum()),
             "probes_multi_gene": int(multi.sum()), "probes_kept": int(keep.sum()),
             "genes": int(out.index.nunique())}
    return out, stats


def select_samples(sm: SeriesMatrix, keep: dict | None, source: str) -> list[str]:
    """GSM ids to keep: all, or those whose characteristic matches one of the values."""
    if not keep:
        return list(sm.expression.columns)
    col = keep["characteristic"].lower()
    if col not in sm.samples.columns:
        raise FerroscopeError(
            f"characteristic '{keep['characteristic']}' is not in the series (it has: "
            f"{sorted(c for c in sm.samples.columns if c not in ('title', 'source_name'))}).",
            file=source, field="samples.keep.characteristic",
            fix="name one of the listed characteristics.")
    values = {str(v).lower() for v in keep["values"]}
    chosen = sm.samples.index[sm.samples[col].astype(str).str.lower().isin(values)]
    chosen = [g for g in sm.expression.columns if g in set(chosen)]
    if not chosen:
        present = sorted(sm.samples[col].dropna().unique())
        raise FerroscopeError(f"no sample has {col} in {sorted(values)}.", file=source,
                              field="samples.keep.values", fix=f"use values present: {present}")
    return chosen


def clinical_table(sm: SeriesMatrix, gsm: list[str], supplement: pd.DataFrame | None,
                   id_column: str | None, source: str) -> pd.DataFrame:
    """Sample table rows for the kept samples, joined with the supplement on the GSM id."""
    clin = sm.samples.loc[gsm].reset_index()
    if supplement is None:
        return clin
    if id_column not in supplement.columns:
        raise FerroscopeError(f"column '{id_column}' not in the supplementary table.",
                              file=source, field="clinical_supplement.id_column",
                              fix=f"use one of {list(supplement.columns)[:10]}.")
    sup = supplement.dropna(subset=[id_column]).copy()
    sup[id_column] = sup[id_column].astype(str).str.strip()
    if sup[id_column].duplicated().any():
        dup = sup[id_column][sup[id_column].duplicated()].iloc[0]
        raise FerroscopeError(f"sample id '{dup}' appears twice in the supplementary table.",
                              file=source, field="clinical_supplement.id_column",
                              fix="keep one row per array.")
    clashing = [c for c in sup.columns if c in clin.columns and c != id_column]
    sup = sup.rename(columns={c: f"{c}.supplement" for c in clashing})
    return clin.merge(sup, how="left", left_on="geo_accession", right_on=id_column)
