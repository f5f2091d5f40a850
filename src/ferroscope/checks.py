"""Readers of the workflow's intermediate files that check what they read.

Every step reads the files an earlier step wrote (``prepared.h5ad``, ``clinical.tsv``,
``scores/<method>.tsv``, ``survival/`` and ``response/`` tables, ``statistics.tsv``). A file
cut short by a full disk, edited by hand or left by an older ferroscope must not be reused
silently: Snakemake sees only its modification time. Each reader here checks

* that the file can be parsed at all (a truncated HDF5 file, a table cut mid-line),
* the columns the next step needs, their types, and no missing value where none may be,
* that the samples of a score table are exactly the samples of the cohort (its prepared
  clinical table), once each,

and otherwise raises one ``FerroscopeError`` naming the file, the problem and the fix: delete
the file, or rerun the rule that writes it with ``snakemake --forcerun <rule>``.

Tables are read with ``float_precision="round_trip"``: together with the shortest-repr floats
``ferroscope.io.write_tsv`` writes, a value read back is the value computed, bit for bit.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import FerroscopeError
from .uns import PreparedUns

PathLike = str | os.PathLike[str]

#: Which rule writes each intermediate (for the fix in the message), matched on the path.
_WRITERS = (("/screen/survival_", "survival_screen"), ("/screen/response_", "response_screen"),
            ("detail_selection.tsv", "detail_selection"),
            ("prepared.h5ad", "prepare"), ("/scores/", "score"), ("/survival/", "survival"),
            ("/response/", "response"), ("/genes/", "genes"), ("coverage.tsv", "coverage"),
            ("statistics.tsv", "statistics"), ("clinical.tsv", "prepare"))

STATUSES = ("ok", "not tested")
RESULT_COLUMNS = ("cohort", "method", "set", "endpoint", "analysis", "estimate", "ci_low",
                  "ci_high", "p", "status", "note", "n")
STATISTICS_COLUMNS = (*RESULT_COLUMNS, "q")
#: columns of result tables that hold text (``role``, ``missing_genes``: risk signatures;
#: ``meta_method``: pooled rows; ``tier``: screening or detail; ``gene``: gene-level and tissue
#: rows); every other column must hold numbers
TEXT_COLUMNS = ("cohort", "method", "set", "endpoint", "analysis", "status", "note", "covariates",
                "role", "missing_genes", "meta_method", "tier", "gene", "test")
TIERS = ("screening", "detail")
SELECTION_COLUMNS = ("cohort", "method", "set", "endpoint", "analysis", "reason")
COVERAGE_COLUMNS = ("set", "scored")


def writer_of(path: PathLike) -> str:
    """The rule that writes ``path`` ("" when it is not a workflow intermediate)."""
    p = str(path).replace(os.sep, "/")
    return next((rule for pattern, rule in _WRITERS if pattern in p), "")


def rerun_fix(path: PathLike, rule: str | None = None) -> str:
    """The fix for a damaged intermediate: delete it or force its rule to run again."""
    rule = rule or writer_of(path)
    how = f"rerun with `snakemake --forcerun {rule}`" if rule else "rerun the workflow"
    return (f"delete {path} (the workflow writes it again) or {how}; if it was written by an "
            "older ferroscope or edited by hand, the run that uses it is not trustworthy.")


def _fail(path: PathLike, problem: str, *, field: str | None = None,
          rule: str | None = None) -> FerroscopeError:
    return FerroscopeError(problem, file=str(path), field=field, fix=rerun_fix(path, rule))


def _read_tsv(path: PathLike, what: str, *, rule: str | None = None) -> pd.DataFrame:
    p = Path(path)
    if not p.exists():
        raise FerroscopeError(f"the {what} does not exist.", file=str(p),
                              fix=rerun_fix(p, rule))
    try:
        # only an empty cell is missing: "NA", "n/a", "null" in a number column are errors
        return pd.read_csv(p, sep="\t", low_memory=False, float_precision="round_trip",
                           keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError,
            EOFError) as exc:
        raise _fail(p, f"cannot be read as the {what} ({type(exc).__name__}: {exc}); it is "
                    "probably truncated or not a tab-separated table.", rule=rule) from exc


def _require(df: pd.DataFrame, path: PathLike, columns: Iterable[str], what: str,
             rule: str | None = None) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise _fail(path, f"the {what} lacks column(s) {', '.join(missing)} (columns present: "
                    f"{', '.join(map(str, df.columns[:15]))}).", field=missing[0], rule=rule)


def _numeric(df: pd.DataFrame, path: PathLike, columns: Iterable[str], what: str, *,
             allow_nan: bool, rule: str | None = None, na_token: str | None = None) -> None:
    """Numeric columns: parseable numbers, never inf, NaN only where allowed.

    ``na_token`` (score tables: ``NA``) is a deliberate missing value, accepted even where
    ``allow_nan`` is false: there an empty cell means a cut-off file.
    """
    for col in columns:
        if pd.api.types.is_float_dtype(df[col]) or pd.api.types.is_integer_dtype(df[col]):
            # parsed as numbers by read_csv: no text to look at (a token would make it object)
            nums = df[col].to_numpy(dtype=float)
            bad_fast = np.isinf(nums) | (np.isnan(nums) if not allow_nan else False)
            if not np.any(bad_fast):
                continue
        text = df[col].astype(str).str.strip()
        explicit = (text == na_token) if na_token else pd.Series(False, index=df.index)
        values = pd.to_numeric(df[col].where(~explicit), errors="coerce")
        unparsed = values.isna() & df[col].notna() & (text != "") & ~explicit
        bad = unparsed | np.isinf(values.to_numpy(dtype=float))
        if not allow_nan:
            bad |= values.isna() & ~explicit
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            shown = df[col].iloc[i]
            raise _fail(path, f"the {what} holds {int(bad.sum())} missing or non-numeric "
                        f"value(s) in column '{col}' (first: row {i + 1}, "
                        f"{'empty' if pd.isna(shown) else repr(shown)}); the file is probably "
                        "truncated or was edited.", field=str(col), rule=rule)
        df[col] = values


def _unique_ids(ids: pd.Index, path: PathLike, what: str, rule: str | None = None) -> None:
    empty = ids.isna() | (ids.astype(str).str.strip() == "")
    if empty.any():
        raise _fail(path, f"the {what} has {int(empty.sum())} row(s) without a sample id.",
                    field="sample_id", rule=rule)
    if ids.has_duplicates:
        dup = ids[ids.duplicated()][0]
        raise _fail(path, f"sample '{dup}' appears more than once in the {what}.",
                    field="sample_id", rule=rule)


def _same_samples(got: pd.Index, want: Sequence[str] | pd.Index, path: PathLike, what: str,
                  reference: str, rule: str | None = None) -> None:
    want_idx = pd.Index([str(s) for s in want])
    got_idx = pd.Index([str(s) for s in got])
    extra = got_idx.difference(want_idx)
    missing = want_idx.difference(got_idx)
    if len(extra) or len(missing):
        parts = []
        if len(missing):
            parts.append(f"{len(missing)} sample(s) of the cohort missing (e.g. "
                         f"{', '.join(map(str, missing[:3]))})")
        if len(extra):
            parts.append(f"{len(extra)} sample(s) not in the cohort (e.g. "
                         f"{', '.join(map(str, extra[:3]))})")
        raise _fail(path, f"the {what} does not hold the samples of the cohort "
                    f"({reference}, {len(want_idx)} samples): {'; '.join(parts)}. It was "
                    "written for another version of the cohort or is truncated.",
                    field="sample_id", rule=rule)


def read_h5ad(path: PathLike, *, backed: bool = False) -> Any:
    """Read ``prepared.h5ad``: readable HDF5, float64 finite X, unique samples and genes.

    ``backed=True`` opens it read-only without loading X (the report needs obs and uns only);
    X is then not scanned for non-finite values.
    """
    import anndata as ad

    p = Path(path)
    if not p.exists():
        raise FerroscopeError("the prepared cohort (h5ad) does not exist.", file=str(p),
                              fix=rerun_fix(p, "prepare"))
    try:
        adata = ad.read_h5ad(p, backed="r" if backed else None)
    except Exception as exc:  # h5py raises OSError/KeyError/ValueError/TypeError variants
        raise _fail(p, f"cannot be read as an AnnData (h5ad) file ({type(exc).__name__}: "
                    f"{str(exc)[:200]}); it is probably truncated.", rule="prepare") from exc
    for key in PreparedUns.missing(adata.uns):
        raise _fail(p, f"the prepared cohort lacks uns['{key}'] (not written by this "
                    "version of ferroscope's prepare step).", field=key, rule="prepare")
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise _fail(p, f"the prepared cohort is empty ({adata.n_obs} samples x "
                    f"{adata.n_vars} genes).", rule="prepare")
    if adata.obs_names.has_duplicates or adata.var_names.has_duplicates:
        kind = "sample" if adata.obs_names.has_duplicates else "gene"
        raise _fail(p, f"a {kind} appears more than once in the prepared cohort.",
                    rule="prepare")
    dtype = np.dtype(adata.X.dtype) if adata.X is not None else None
    if dtype != np.float64:
        raise _fail(p, f"the expression matrix is stored as {dtype}, not float64 (written by "
                    "an older ferroscope: scores from it differ from R's in the 4th-7th "
                    "digit).", field="X", rule="prepare")
    if not backed:
        x = np.asarray(adata.X)
        if np.isinf(x).any():
            raise _fail(p, "the expression matrix holds infinite values.", field="X",
                        rule="prepare")
    return adata


def read_clinical(path: PathLike, *, samples: Sequence[str] | pd.Index | None = None,
                  columns: Iterable[str] = ()) -> pd.DataFrame:
    """Read the prepared clinical table (index ``sample_id``) and check its columns.

    Times (``*_time_months``) are numbers >= 0 or empty; events (``*_event``) and ``response``
    are 0, 1 or empty. With ``samples``, the table must hold exactly those samples; ``columns``
    (covariates, arm ...) must be present.
    """
    what = "prepared clinical table"
    df = _read_tsv(path, what, rule="prepare")
    _require(df, path, ["sample_id", *columns], what, rule="prepare")
    df["sample_id"] = df["sample_id"].astype(str)
    df = df.set_index("sample_id")
    _unique_ids(df.index, path, what, rule="prepare")
    if df.empty:
        raise _fail(path, f"the {what} has no rows.", rule="prepare")
    times = [c for c in df.columns if str(c).endswith("_time_months")]
    for t in times:
        ev = t.removesuffix("_time_months") + "_event"
        _require(df, path, [ev], what, rule="prepare")
    flags = [c for c in df.columns if str(c).endswith("_event") or c == "response"]
    _numeric(df, path, times + flags, what, allow_nan=True, rule="prepare")
    for t in times:
        if (df[t] < 0).any():
            raise _fail(path, f"negative time in column '{t}' of the {what}.", field=t,
                        rule="prepare")
    for f in flags:
        bad = df[f].notna() & ~df[f].isin([0.0, 1.0])
        if bad.any():
            raise _fail(path, f"column '{f}' of the {what} holds values other than 0, 1 or "
                        f"empty (e.g. {df.loc[bad, f].iloc[0]!r}).", field=f, rule="prepare")
    if samples is not None:
        _same_samples(df.index, samples, path, what, "the prepared cohort", rule="prepare")
    return df


def read_scores(path: PathLike, samples: Sequence[str] | pd.Index) -> pd.DataFrame:
    """Read a score table (samples x sets, index ``sample_id``) of the given cohort samples.

    Every sample of the cohort appears exactly once, no other sample appears, and every score
    is a finite number or ``NA`` (a score the missing-value policy could not compute; the score
    step writes it so): an empty cell, text or inf (a half-written or hand-edited table) fails
    here, naming the file.
    """
    what = "score table"
    df = _read_tsv(path, what)
    _require(df, path, ["sample_id"], what)
    df["sample_id"] = df["sample_id"].astype(str)
    df = df.set_index("sample_id")
    _unique_ids(df.index, path, what)
    _numeric(df, path, list(df.columns), what, allow_nan=False, na_token="NA")
    _same_samples(df.index, samples, path, what, "its prepared clinical table")
    return df.reindex(pd.Index([str(s) for s in samples], name="sample_id"))


def read_results(path: PathLike, *, cohort: str | None = None,
                 method: str | None = None) -> pd.DataFrame:
    """Read a per-cohort survival or response table (one row per set x endpoint)."""
    what = "per-cohort results table"
    df = _read_tsv(path, what)
    if df.empty and len(df.columns) == 0:
        return df
    _check_results(df, path, what, RESULT_COLUMNS)
    for key, want in (("cohort", cohort), ("method", method)):
        if want is not None and len(df) and (df[key].astype(str) != str(want)).any():
            seen = sorted(df[key].astype(str).unique())[:3]
            raise _fail(path, f"the {what} is for {key} {seen}, not '{want}'.", field=key)
    return df


def read_detail_selection(path: PathLike) -> pd.DataFrame:
    """Read ``results/detail_selection.tsv``: which rows get the detail tier (and why)."""
    what = "detail-tier selection"
    df = _read_tsv(path, what, rule="detail_selection")
    _require(df, path, SELECTION_COLUMNS, what, rule="detail_selection")
    for col in SELECTION_COLUMNS:
        if df[col].isna().any():
            i = int(np.flatnonzero(df[col].isna().to_numpy())[0])
            raise _fail(path, f"the {what} has an empty '{col}' in row {i + 1}; it is "
                        "probably truncated.", field=col, rule="detail_selection")
        df[col] = df[col].astype(str)
    return df


def check_screening(table: pd.DataFrame, screen: pd.DataFrame, path: PathLike) -> None:
    """The detail step's screening statistics equal those of its screening table ``path``.

    The detail tier was selected from ``path`` (through results/detail_selection.tsv); the
    detail step recomputes the screening statistics from the same scores with the same code,
    so the sets, endpoints, statuses and p-values must agree exactly (the tables are written
    lossless). A difference means the screening table is stale or was edited.
    """
    key = ["set", "endpoint"]
    a = table.set_index(key)[["status", "p"]]
    b = screen.set_index(key)[["status", "p"]]
    same = a.index.equals(b.index) if len(a) == len(b) else False
    if same:
        b = b.loc[a.index]
        pa, pb = a["p"].to_numpy(dtype=float), b["p"].to_numpy(dtype=float)
        same = bool((a["status"].to_numpy() == b["status"].to_numpy()).all()
                    and ((pa == pb) | (np.isnan(pa) & np.isnan(pb))).all())
    if not same:
        raise _fail(path, "the screening table does not match the screening statistics "
                    "recomputed from the scores (it is stale or was edited), so the detail-tier "
                    "selection made from it cannot be trusted.")


def read_statistics(path: PathLike) -> pd.DataFrame:
    """Read ``results/statistics.tsv``: its columns, numbers, statuses."""
    what = "statistics table"
    df = _read_tsv(path, what, rule="statistics")
    _check_results(df, path, what, STATISTICS_COLUMNS, rule="statistics")
    return df


def _check_results(df: pd.DataFrame, path: PathLike, what: str, columns: Sequence[str],
                   rule: str | None = None) -> None:
    _require(df, path, columns, what, rule=rule)
    numbers = [c for c in df.columns if c not in TEXT_COLUMNS]
    _numeric(df, path, numbers, what, allow_nan=True, rule=rule)
    for col in ("cohort", "method", "set", "status"):
        if df[col].isna().any():
            i = int(np.flatnonzero(df[col].isna().to_numpy())[0])
            raise _fail(path, f"the {what} has an empty '{col}' in row {i + 1}; it is "
                        "probably truncated.", field=col, rule=rule)
    if "tier" in df and (~df["tier"].isin(TIERS) & df["tier"].notna()).any():
        bad_tier = df.loc[~df["tier"].isin(TIERS) & df["tier"].notna(), "tier"].iloc[0]
        raise _fail(path, f"the {what} has tier {bad_tier!r} (expected "
                    f"{' or '.join(TIERS)}).", field="tier", rule=rule)
    bad = ~df["status"].isin(STATUSES)
    if bad.any():
        raise _fail(path, f"the {what} has status {df.loc[bad, 'status'].iloc[0]!r} "
                    f"(expected {' or '.join(STATUSES)}).", field="status", rule=rule)
    ok = df["status"] == "ok"
    for col in ("estimate", "p"):
        if df.loc[ok, col].isna().any():
            raise _fail(path, f"the {what} has an empty '{col}' on a row with status 'ok'; "
                        "it is probably truncated.", field=col, rule=rule)


def read_coverage(path: PathLike) -> pd.DataFrame:
    """Read a coverage table (one row per gene set; ``scored`` true/false)."""
    what = "coverage table"
    df = _read_tsv(path, what, rule="coverage")
    _require(df, path, COVERAGE_COLUMNS, what, rule="coverage")
    scored = df["scored"].astype(str).str.strip().str.lower()
    bad = ~scored.isin(["true", "false"])
    if bad.any():
        raise _fail(path, f"column 'scored' of the {what} holds {df.loc[bad, 'scored'].iloc[0]!r}"
                    " (expected True or False); the file is probably truncated.",
                    field="scored", rule="coverage")
    df["scored"] = scored == "true"
    return df


GENE_DRIVER_COLUMNS = ("cohort", "method", "set", "gene", "endpoint", "r", "hr_set",
                       "hr_without", "status")


def read_gene_drivers(path: PathLike) -> pd.DataFrame:
    """Read a leave-one-gene-out table (``results/<cohort>/genes/drivers.tsv``,
    :func:`ferroscope.genelevel.leave_one_out`): its columns, numbers and statuses."""
    what = "leave-one-gene-out table"
    df = _read_tsv(path, what, rule="genes")
    _require(df, path, GENE_DRIVER_COLUMNS, what, rule="genes")
    text = ("cohort", "method", "set", "gene", "row", "endpoint", "status", "note")
    _numeric(df, path, [c for c in df.columns if c not in text], what, allow_nan=True,
             rule="genes")
    bad = ~df["status"].isin(STATUSES)
    if bad.any():
        raise _fail(path, f"the {what} has status {df.loc[bad, 'status'].iloc[0]!r} "
                    f"(expected {' or '.join(STATUSES)}).", field="status", rule="genes")
    return df
