"""GEO platform tables: probe -> HGNC symbol (GEO ``.annot.gz``, SOFT family files, plain TSV)
and the renaming of a probe-level matrix to symbols. Used by the geo source
(:mod:`ferroscope.sources.geo`, which re-exports both functions).
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import FerroscopeError

if TYPE_CHECKING:  # pandas is imported where used: the source registry is read at parse time
    import pandas as pd


SYMBOL_COLUMNS = ("Gene symbol", "Gene Symbol", "Symbol", "GENE_SYMBOL", "symbol", "ORF")


def read_platform_table(path: str | Path, probe_column: str, symbol_column: str) -> pd.Series:
    """probe -> HGNC symbol from a platform table.

    Layouts: GEO ``.annot.gz`` and SOFT family files (``^PLATFORM`` header, ``#column = ...``
    descriptions, then the table between ``!platform_table_begin`` and
    ``!platform_table_end``; only the first platform table is read, sample tables that may
    follow are not), or a plain TSV whose header is the first line not starting with ``#``,
    ``!`` or ``^``. The file is streamed, so a large SOFT file is read up to the table end.
    """
    import pandas as pd

    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    lines: list[str] = []
    soft = False
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("!platform_table_begin"):
                soft, lines = True, []
                continue
            if soft and line.startswith("!platform_table_end"):
                break
            if soft or not line.startswith(("#", "!", "^")):
                lines.append(line)
    if not lines:
        raise FerroscopeError("the platform table is empty (no header line).", file=str(path),
                              field="probe_table",
                              fix="delete the file to download it again, or check its name.")
    table = pd.read_csv(io.StringIO("".join(lines)), sep="\t", dtype=str, quoting=3)
    table.columns = [str(c).strip().strip('"') for c in table.columns]
    for key, col in (("probe_column", probe_column), ("symbol_column", symbol_column)):
        if col not in table.columns:
            likely = [c for c in SYMBOL_COLUMNS if c in table.columns]
            raise FerroscopeError(
                f"column '{col}' not in the platform table (columns: "
                f"{', '.join(map(str, table.columns))})"
                + (f"; symbol columns present: {likely}" if likely else "") + ".",
                file=str(path), field=f"probe_table.{key}",
                fix="name the probe and symbol columns as written in the table's header.")
    table[probe_column] = table[probe_column].astype(str).str.strip().str.strip('"')
    sym = table.set_index(probe_column)[symbol_column]
    return sym.astype("string").str.strip().str.strip('"')


def map_probes(expr: pd.DataFrame, symbols: pd.Series) -> tuple[pd.DataFrame, dict[str, int]]:
    """Rename probes to symbols; drop probes with no symbol or several ('///')."""
    import pandas as pd

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
