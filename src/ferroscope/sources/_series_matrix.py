"""Reading a GEO series matrix (``GSE..._series_matrix.txt[.gz]``): the ``!`` header lines, the
sample table they describe and the expression table between ``!series_matrix_table_begin`` and
``!series_matrix_table_end``. Parsed once; the geo source (:mod:`ferroscope.sources.geo`) and
``ferroscope inspect`` both read :class:`SeriesMatrix` (its ``header`` holds every line).
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import FerroscopeError

if TYPE_CHECKING:  # pandas is imported where used: the source registry is read at parse time
    import pandas as pd


@dataclass
class SeriesMatrix:
    expression: pd.DataFrame  # probes x GSM
    samples: pd.DataFrame     # GSM x (title, source_name, characteristics...)
    platforms: list[str]
    #: every ``!Key`` header line's cells, by key without the ``!`` (a key may repeat)
    header: dict[str, list[list[str]]] = field(default_factory=dict)


def _cells(line: str) -> list[str]:
    return [c.strip().strip('"') for c in line.rstrip("\n").split("\t")[1:]]


def read_series_matrix(path: str | Path) -> SeriesMatrix:
    """Parse a GEO series matrix (gzipped or not)."""
    import pandas as pd

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
    if any(ln.strip() for ln in table):
        expr = pd.read_csv(io.StringIO("".join(table)), sep="\t", index_col=0, quotechar='"')
    else:  # series whose data are only in supplementary files (e.g. GSE140901)
        expr = pd.DataFrame(index=pd.Index([], name="ID_REF"))
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
    return SeriesMatrix(expr, samples, platforms, header)
