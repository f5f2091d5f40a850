"""GEO sample selection: ``samples.keep`` (the tumours), ``samples.compare`` (adjacent
non-tumour tissue), ``samples.pair_by`` and the clinical table of the chosen samples.

Both selections read one ``!Sample_characteristics_ch1`` column of the series matrix
(:class:`._series_matrix.SeriesMatrix`) and are strict like the clinical mappings: each listed
value must match a sample (case and surrounding spaces ignored), else the run stops listing
every observed value with its count. Used by :mod:`.geo`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import FerroscopeError
from ._series_matrix import SeriesMatrix

if TYPE_CHECKING:  # pandas and numpy are imported where used: the registry is read at parse time
    import pandas as pd


def _characteristic(sm: SeriesMatrix, spec: dict, block: str, source: str
                    ) -> tuple[str, list[str], pd.Series, pd.Series]:
    """``(column, samples in the table, raw values, normalised values)`` of the characteristic
    ``spec['characteristic']`` (``samples.<block>``); stops when the series lacks it."""
    col = spec["characteristic"].strip().lower()
    if col not in sm.samples.columns:
        raise FerroscopeError(
            f"characteristic '{spec['characteristic']}' is not in the series (it has: "
            f"{sorted(c for c in sm.samples.columns if c not in ('title', 'source_name'))}).",
            file=source, field=f"samples.{block}.characteristic",
            fix="name one of the listed characteristics.")
    columns = set(sm.expression.columns)
    # expression from a supplement: the matrix table is empty, every sample counts
    in_table = [g for g in sm.samples.index if g in columns or not columns]
    raw = sm.samples.loc[in_table, col]
    return col, in_table, raw, raw.fillna("").astype(str).str.strip().str.lower()


def _require_matches(values: list, norm: pd.Series, col: str, seen: str, block: str,
                     source: str) -> set[str]:
    """The normalised ``values``; stops naming the observed values when one matches no
    sample."""
    for v in values:
        if not (norm == str(v).strip().lower()).any():
            raise FerroscopeError(
                f"value '{v}' of samples.{block}.values matches no sample's '{col}'. Observed "
                f"values (count): {seen}.", file=source, field=f"samples.{block}.values",
                fix="use the values exactly as the series writes them (case ignored).")
    return {str(v).strip().lower() for v in values}


def _observed(raw: pd.Series, missing: pd.Series) -> str:
    """Observed values with their counts, as error messages list them."""
    counts = raw[~missing].astype(str).str.strip().value_counts()
    return ", ".join(f"'{v}' {n}" for v, n in counts.items())


def select_samples(sm: SeriesMatrix, keep: dict | None, source: str,
                   counts: dict[str, int] | None = None) -> list[str]:
    """GSM ids to keep: all, or those whose characteristic is one of ``keep['values']``.

    Strict like the clinical mappings: each kept value must match a sample, and every sample
    with a value must be in ``values`` or ``exclude_values`` (else the run stops listing every
    observed value with its count). Samples without the characteristic are dropped and
    counted. Values compare case- and surrounding-space-insensitively. ``counts`` (if given)
    receives kept / excluded / missing.
    """
    if not keep:
        every = list(sm.expression.columns) or list(sm.samples.index)
        if counts is not None:
            counts.update(kept=len(every), excluded=0, missing=0)
        return every
    col, in_table, raw, norm = _characteristic(sm, keep, "keep", source)
    missing = norm == ""
    seen = _observed(raw, missing) + (f", missing {int(missing.sum())}" if missing.any()
                                      else "")
    kept_values = _require_matches(keep["values"], norm, col, seen, "keep", source)
    excluded_values = {str(v).strip().lower() for v in keep.get("exclude_values", [])}
    both = kept_values & excluded_values
    if both:
        raise FerroscopeError(f"value(s) {sorted(both)} are both kept and excluded.",
                              file=source, field="samples.keep.exclude_values",
                              fix="keep each value in one list.")
    odd = ~missing & ~norm.isin(kept_values | excluded_values)
    if odd.any():
        undeclared = raw[odd].astype(str).str.strip().value_counts()
        raise FerroscopeError(
            f"'{col}' holds value(s) that samples.keep neither keeps nor excludes: "
            f"{', '.join(f'{v!r} ({n})' for v, n in undeclared.items())}. All observed values "
            f"(count): {seen}.", file=source, field="samples.keep",
            fix="add each value to samples.keep.values (kept) or samples.keep.exclude_values "
                "(left out on purpose).")
    chosen = [g for g in in_table if norm[g] in kept_values]
    if counts is not None:
        counts.update(kept=len(chosen), excluded=int(norm.isin(excluded_values).sum()),
                      missing=int(missing.sum()))
    return chosen


def select_comparison(sm: SeriesMatrix, compare: dict, keep: dict | None,
                      source: str) -> list[str]:
    """GSM ids of the comparison group (``samples.compare``: adjacent non-tumour tissue).

    Strict: each value must match a sample (case and surrounding spaces ignored), else the run
    stops listing the observed values with their counts; a value kept as tumour too is an error.
    """
    col, in_table, raw, norm = _characteristic(sm, compare, "compare", source)
    seen = _observed(raw, norm == "")
    wanted = _require_matches(compare["values"], norm, col, seen, "compare", source)
    if keep and col == keep["characteristic"].strip().lower():
        both = wanted & {str(v).strip().lower() for v in keep["values"]}
        if both:
            raise FerroscopeError(f"value(s) {sorted(both)} are both tumours (samples.keep) "
                                  "and the comparison group.", file=source,
                                  field="samples.compare.values",
                                  fix="list each value in one of the two.")
    return [g for g in in_table if norm[g] in wanted]


def mark_comparison(clinical: pd.DataFrame, comparison: list[str], pair_by: str | None,
                    source: str) -> pd.DataFrame:
    """Add the reserved tissue columns (ferroscope.tissue.GROUP / PAIR) to the clinical table:
    the group of every sample and its patient key (``samples.pair_by``: a characteristic or a
    clinical-supplement column)."""
    import numpy as np

    from ..tissue import GROUP, NON_TUMOUR, PAIR, TUMOUR

    out = clinical.copy()
    out[GROUP] = np.where(out["geo_accession"].isin(comparison), NON_TUMOUR, TUMOUR)
    if pair_by is None:
        out[PAIR] = ""
        return out
    col = pair_by if pair_by in out.columns else pair_by.strip().lower()
    if col not in out.columns:
        raise FerroscopeError(
            f"samples.pair_by '{pair_by}' is neither a characteristic nor a supplement column "
            f"(columns: {[c for c in out.columns if c != GROUP][:25]}).", file=source,
            field="samples.pair_by", fix="name the column holding the patient id.")
    out[PAIR] = out[col].astype("string").str.strip().fillna("")
    return out


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
