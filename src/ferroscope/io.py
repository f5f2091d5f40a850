"""File helpers: atomic writes, checksums and table readers that fail with named errors."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

import numpy as np
import pandas as pd

from .errors import FerroscopeError

log = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it over ``path`` on success.

    A crash or exception leaves no partial file at ``path`` (the temporary file is removed).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Keep the extension so libraries that infer the format from the name still work.
    suffix = ".part" + "".join(target.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "w", **kwargs: object) -> Iterator[IO]:
    """Open a temporary file for writing and move it to ``path`` only when the block succeeds."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:  # type: ignore[call-overload]
        yield fh


def write_tsv(df: pd.DataFrame, path: PathLike, *, index: bool = False,
              na_rep: str = "") -> None:
    """Write a tab-separated table atomically (compressed when ``path`` ends in .gz).

    Floats are written lossless and short: pandas writes Python's shortest round-trip repr
    (``0.1`` stays ``0.1``; ``0.123456789012345678`` keeps all 17 significant digits), so a
    value read back equals the value written bit for bit. Missing values are empty cells. An
    infinite value is refused (a result table never holds ``inf``: a median not reached, an
    overflowing ratio ... are written empty by the step that computes them), naming the column
    and the row, and nothing is written. ``na_rep="NA"`` writes missing values as ``NA`` (score
    tables: a deliberate NA score stays distinguishable from an empty cell of a cut-off file).
    """
    check_finite(df, path)
    compression = "gzip" if str(path).endswith(".gz") else None
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=index, compression=compression, na_rep=na_rep)


def first_infinite(values: np.ndarray) -> tuple[int, int, int] | None:
    """(count, row, column) of the infinite cells of a 2-D array (the first one by row), or
    None when every cell is finite or NaN."""
    bad = np.isinf(values)
    if not bad.any():
        return None
    r, c = np.argwhere(bad)[0]
    return int(bad.sum()), int(r), int(c)


def check_finite(df: pd.DataFrame, path: PathLike) -> None:
    """Raise when a numeric column of ``df`` holds +inf or -inf (NaN is allowed: empty cell)."""
    num = df.select_dtypes(include="number")
    if num.empty:
        return
    values = num.to_numpy(dtype=float)
    hit = first_infinite(values)
    if hit:
        n, r, c = hit
        raise FerroscopeError(
            f"refusing to write {n} infinite value(s) (first: column "
            f"'{num.columns[c]}', row '{num.index[r]}' = {values[r, c]}); an output table "
            "never holds inf.", file=str(path), field=str(num.columns[c]),
            fix="this is a bug in ferroscope (the step must write such a value empty): please "
                "report it with the rule's log.")


def _open_binary(p: Path) -> IO[bytes]:
    import gzip

    if p.name.lower().endswith(".gz"):
        return cast(IO[bytes], gzip.open(p, "rb"))
    return open(p, "rb")


def first_non_utf8(path: PathLike) -> tuple[int, int, bytes] | None:
    """(line number, column, line) of the first line that is not UTF-8, or None."""
    with _open_binary(Path(path)) as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return lineno, exc.start + 1, raw
    return None


def raw_header(path: PathLike, sep: str) -> list[str]:
    """The first line's fields exactly as written (pandas renames a repeated name 'x' to
    'x.1', so duplicates can only be seen here)."""
    with _open_binary(Path(path)) as fh:
        first = fh.readline().decode("utf-8", errors="replace").rstrip("\r\n")
    return [f.strip().strip('"').strip() for f in first.split(sep)]


#: Delimiters looked for when a header does not split on the one a file's name promises.
DELIMITERS = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "vertical bar"}
#: File signatures of Excel workbooks: .xlsx/.xlsm (a zip archive) and .xls (OLE2).
_WORKBOOK_MAGIC = {b"PK\x03\x04": "xlsx", b"\xd0\xcf\x11\xe0": "xls"}


def workbook_kind(path: PathLike) -> str | None:
    """'xlsx' or 'xls' when the file is an Excel workbook (by its first bytes), else None."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    return _WORKBOOK_MAGIC.get(head)


def _check_header(header: list[str], *, path: PathLike, what: str) -> None:
    """No column name appears twice in a raw header (pandas would rename the second)."""
    seen: dict[str, int] = {}
    for pos, col_name in enumerate(header, start=1):
        if col_name and col_name in seen:
            raise FerroscopeError(
                f"column name '{col_name}' appears twice in the header of the {what} (columns "
                f"{seen[col_name]} and {pos}).", file=str(path), field=col_name,
                fix="give every column a unique name (a sample profiled twice needs two ids, "
                    "or delete the copy).")
        seen[col_name] = pos


def _check_delimiter(header: list[str], sep: str, *, path: Path, what: str,
                     field: str | None) -> None:
    """A header that is one column on ``sep`` but several on another delimiter names it."""
    if len(header) != 1:
        return
    splits = {d: len(header[0].split(d)) for d in DELIMITERS if d != sep}
    other = max(splits, key=lambda d: splits[d])
    if splits[other] <= 1:
        return
    kind = "csv" if sep == "," else "tsv"
    if other in ",\t":  # the other of the two delimiters the names promise: rename
        raise FerroscopeError(
            f"the file is named .{kind} but its header is {DELIMITERS[other]}-separated "
            f"({header[0][:60]!r}...).", file=str(path), field=field,
            fix=f"rename it to .{'tsv' if sep == ',' else 'csv'} (keeping .gz if gzipped) and "
                "update the config, or re-export it "
                f"{'tab' if sep == chr(9) else 'comma'}-separated.")
    raise FerroscopeError(
        f"the header of the {what} is one column on {DELIMITERS[sep]}s (the delimiter of a "
        f".{kind} file) but {splits[other]} columns on {DELIMITERS[other]}s "
        f"({header[0][:60]!r}...): the file is {DELIMITERS[other]}-separated (a spreadsheet "
        "export for a locale with a decimal comma writes semicolons).", file=str(path),
        field=field,
        fix="re-export it tab-separated (.tsv) or comma-separated (.csv) with a decimal point, "
            "e.g. in LibreOffice: Save As > Text CSV, field delimiter ',' (or save the clinical "
            "table as .xlsx, which is read as it is).")


def read_workbook(path: PathLike, *, what: str, field: str | None = None,
                  sheet: str | int | None = None) -> pd.DataFrame:
    """Read one sheet of an Excel .xlsx workbook (the first, or ``sheet`` by name or 0-based
    position) with the checks of a text table: a repeated column name in the header row stops,
    empty rows are skipped, and cells are parsed as in a CSV (numbers as numbers, the rest as
    text). ``df.attrs["workbook"]`` says which sheet was read."""
    import io as _io

    p = Path(path)
    if workbook_kind(p) == "xls" or p.name.lower().endswith(".xls"):
        raise FerroscopeError(
            f"the {what} is an old Excel .xls workbook, which ferroscope does not read.",
            file=str(p), field=field,
            fix="open it in Excel or LibreOffice and save it as .xlsx (or export the sheet as "
                "tab-separated .tsv), then point the config at the new file.")
    try:
        book = pd.ExcelFile(p, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types on a damaged archive
        raise FerroscopeError(f"cannot be read as an Excel workbook ({exc}).", file=str(p),
                              field=field,
                              fix="open and re-save it as .xlsx, or export the sheet as "
                                  ".tsv.") from exc
    names = list(book.sheet_names)
    if sheet is None:
        chosen = names[0]
    elif isinstance(sheet, int) and 0 <= sheet < len(names):
        chosen = names[sheet]
    elif isinstance(sheet, str) and sheet in names:
        chosen = sheet
    else:
        raise FerroscopeError(
            f"sheet {sheet!r} is not in the workbook (sheets: {', '.join(map(repr, names))}).",
            file=str(p), field=field, fix="name one of these sheets (or its 0-based position).")
    grid = book.parse(chosen, header=None, dtype=object)
    grid = grid.dropna(how="all").dropna(axis=1, how="all")
    if grid.empty:
        raise FerroscopeError(f"sheet '{chosen}' of the {what} is empty.", file=str(p),
                              field=field, fix="name the sheet that holds the table (sheets: "
                                               f"{', '.join(map(repr, names))}).")
    header = ["" if pd.isna(h) else str(h).strip() for h in grid.iloc[0]]
    _check_header(header, path=p, what=what)
    names_out = [h or f"Unnamed: {i}" for i, h in enumerate(header)]
    text = grid.iloc[1:].to_csv(sep="\t", header=False, index=False)
    df = pd.read_csv(_io.StringIO(text), sep="\t", header=None, names=names_out,
                     low_memory=False)
    df.attrs["workbook"] = (f"sheet '{chosen}' ({names.index(chosen) + 1} of {len(names)}) "
                            "of the workbook")
    return df


def read_table(path: PathLike, *, what: str, index_col: int | str | None = None,
               required: list[str] | None = None, field: str | None = None,
               sheet: str | int | None = None, workbook: bool = True) -> pd.DataFrame:
    """Read a TSV/CSV table (delimiter from the extension) or fail with a named error.

    An Excel workbook (by its content, whatever its name) is read with
    :func:`read_workbook` (first sheet, or ``sheet``) when ``workbook`` is true, else named as
    a workbook with the fix (export it as text). A header that is one column on the expected
    delimiter but several on another (``;``, ``,``, tab, ``|``) names that delimiter.

    ``what`` says what the file is for ("clinical table of cohort demo"), so the message can
    tell the user which config entry points at it; ``field`` is the config key naming the file
    (e.g. ``cohorts.x.expression``), named in messages about the file as a whole. Checked
    before parsing: the file exists,
    is UTF-8 (first bad line named), its header is separated by the delimiter its name
    promises (a comma-separated file named ``.tsv`` is named as such), and no column name
    appears twice in the raw header.
    """
    p = Path(path)
    if not p.exists():
        raise FerroscopeError("file does not exist.", file=str(p), field=field,
                              fix=f"point the config at the {what}, or create it.")
    name = p.name.lower().removesuffix(".gz")
    try:
        kind = workbook_kind(p) if p.is_file() else None
    except OSError:
        kind = None
    if kind or name.endswith((".xlsx", ".xlsm", ".xls")):
        if not workbook:
            raise FerroscopeError(
                f"the {what} is an Excel workbook (.{kind or name.rsplit('.', 1)[-1]}), not a "
                "text table.", file=str(p), field=field,
                fix="export the sheet as tab-separated text (.tsv, optionally gzipped); import "
                    "the gene column as text so that names such as MARCH1 do not become dates.")
        if kind == "xlsx" and not name.endswith((".xlsx", ".xlsm")):
            log.info("%s: an Excel workbook (despite its name): read as one", p)
        df = read_workbook(p, what=what, field=field, sheet=sheet)
        if index_col is not None:
            df = df.set_index(df.columns[index_col] if isinstance(index_col, int) else index_col)
    else:
        df = _read_text(p, "," if name.endswith(".csv") else "\t", what=what, field=field,
                        index_col=index_col)
    for col in required or []:
        if col not in df.columns:
            where = f"{df.attrs['workbook']}; " if "workbook" in df.attrs else ""
            raise FerroscopeError(
                f"column is missing from the {what} ({where}columns present: "
                f"{', '.join(map(str, df.columns[:12]))}{'...' if len(df.columns) > 12 else ''}).",
                file=str(p), field=col, fix="rename the column or correct the cohort's mapping.")
    return df


def _read_text(p: Path, sep: str, *, what: str, field: str | None,
               index_col: int | str | None) -> pd.DataFrame:
    """A delimited text table, after the checks of :func:`read_table` on its raw bytes."""
    try:
        bad = first_non_utf8(p)
        header = raw_header(p, sep) if bad is None else []
    except (OSError, EOFError) as exc:
        raise FerroscopeError(f"cannot be read as the {what} ({exc}).", file=str(p),
                              field=field,
                              fix="check that the file is complete (a truncated or corrupt "
                                  ".gz?) and download or copy it again.") from exc
    if bad is not None:
        lineno, column, raw = bad
        raise FerroscopeError(
            f"line {lineno} of the {what} is not UTF-8 text (byte 0x{raw[column - 1]:02x} at "
            f"column {column}).", file=str(p), field=field,
            fix="save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8 in > out).")
    _check_delimiter(header, sep, path=p, what=what, field=field)
    _check_header(header, path=p, what=what)
    try:
        return pd.read_csv(p, sep=sep, index_col=index_col, low_memory=False)
    except pd.errors.EmptyDataError as exc:
        raise FerroscopeError(f"the {what} is empty.", file=str(p), field=field,
                              fix="check the file (a failed export or download?).") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise FerroscopeError(f"cannot be parsed as the {what} ({exc}).", file=str(p),
                              field=field,
                              fix="check that it is a tab- or comma-separated text table "
                                  "(optionally gzipped) and is not truncated.") from exc


def sha256sum(path: PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
