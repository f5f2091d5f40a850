"""File helpers: atomic writes, checksums and table readers that fail with named errors."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

import numpy as np
import pandas as pd

from .errors import FerroscopeError

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


def read_table(path: PathLike, *, what: str, index_col: int | str | None = None,
               required: list[str] | None = None, field: str | None = None) -> pd.DataFrame:
    """Read a TSV/CSV table (delimiter from the extension) or fail with a named error.

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
    sep = "," if name.endswith(".csv") else "\t"
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
    other, other_name = ("\t", "tab") if sep == "," else (",", "comma")
    if len(header) <= 1 and header and other in header[0]:
        kind = "csv" if sep == "," else "tsv"
        raise FerroscopeError(
            f"the file is named .{kind} but its header is {other_name}-separated "
            f"({header[0][:60]!r}...).", file=str(p), field=field,
            fix=f"rename it to .{'tsv' if sep == ',' else 'csv'} (keeping .gz if gzipped) and "
                "update the config, or re-export it "
                f"{'tab' if sep == chr(9) else 'comma'}-separated.")
    seen: dict[str, int] = {}
    for pos, col_name in enumerate(header, start=1):
        if col_name and col_name in seen:
            raise FerroscopeError(
                f"column name '{col_name}' appears twice in the header of the {what} (columns "
                f"{seen[col_name]} and {pos}).", file=str(p), field=col_name,
                fix="give every column a unique name (a sample profiled twice needs two ids, "
                    "or delete the copy).")
        seen[col_name] = pos
    try:
        df = pd.read_csv(p, sep=sep, index_col=index_col, low_memory=False)
    except pd.errors.EmptyDataError as exc:
        raise FerroscopeError(f"the {what} is empty.", file=str(p), field=field,
                              fix="check the file (a failed export or download?).") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise FerroscopeError(f"cannot be parsed as the {what} ({exc}).", file=str(p),
                              field=field,
                              fix="check that it is a tab- or comma-separated text table "
                                  "(optionally gzipped) and is not truncated.") from exc
    for col in required or []:
        if col not in df.columns:
            raise FerroscopeError(
                f"column is missing from the {what} (columns present: "
                f"{', '.join(map(str, df.columns[:12]))}{'...' if len(df.columns) > 12 else ''}).",
                file=str(p), field=col, fix="rename the column or correct the cohort's mapping.")
    return df


def sha256sum(path: PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
