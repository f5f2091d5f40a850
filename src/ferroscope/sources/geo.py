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

Registered as the ``geo`` cohort source (:data:`SOURCE`: :func:`downloads`, :func:`assemble`,
:func:`validate`); its config keys are in workflow/schemas/sources/geo.schema.yaml.
"""

from __future__ import annotations

import gzip
import io
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import FerroscopeError
from . import Assembled, CheckContext, Cohort, Downloads, Source
from ._platform import map_probes, read_platform_table
from ._series_matrix import SeriesMatrix, read_series_matrix

if TYPE_CHECKING:  # pandas and numpy are imported where used: the registry is read at parse time
    import pandas as pd


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


def platform_file_url(base: str, gpl: str, file: str) -> str:
    """A platform file: ``.../annot/{file}``, or ``.../soft/{file}`` for a SOFT family file.

    Platforms without a curated ``.annot.gz`` (GPL13938, GPL19965, ...) have their full table
    only in the SOFT family file ``GPLxxx_family.soft.gz``.
    """
    folder = "soft" if file.endswith((".soft.gz", ".soft")) else "annot"
    return f"{base.rstrip('/')}/platforms/{_stub(gpl)}/{gpl}/{folder}/{file}"


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
    col = keep["characteristic"].strip().lower()
    if col not in sm.samples.columns:
        raise FerroscopeError(
            f"characteristic '{keep['characteristic']}' is not in the series (it has: "
            f"{sorted(c for c in sm.samples.columns if c not in ('title', 'source_name'))}).",
            file=source, field="samples.keep.characteristic",
            fix="name one of the listed characteristics.")
    columns = set(sm.expression.columns)
    # expression from a supplement: the matrix table is empty, every sample counts
    in_table = [g for g in sm.samples.index if g in columns or not columns]
    raw = sm.samples.loc[in_table, col]
    norm = raw.fillna("").astype(str).str.strip().str.lower()
    missing = norm == ""
    observed = raw[~missing].astype(str).str.strip().value_counts()
    seen = ", ".join(f"'{v}' {n}" for v, n in observed.items()) + (
        f", missing {int(missing.sum())}" if missing.any() else "")
    kept_values = {str(v).strip().lower() for v in keep["values"]}
    excluded_values = {str(v).strip().lower() for v in keep.get("exclude_values", [])}
    for v in keep["values"]:
        if not (norm == str(v).strip().lower()).any():
            raise FerroscopeError(
                f"value '{v}' of samples.keep.values matches no sample's '{col}'. Observed "
                f"values (count): {seen}.", file=source, field="samples.keep.values",
                fix="use the values exactly as the series writes them (case ignored).")
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
    col = compare["characteristic"].strip().lower()
    if col not in sm.samples.columns:
        raise FerroscopeError(
            f"characteristic '{compare['characteristic']}' is not in the series (it has: "
            f"{sorted(c for c in sm.samples.columns if c not in ('title', 'source_name'))}).",
            file=source, field="samples.compare.characteristic",
            fix="name one of the listed characteristics.")
    columns = set(sm.expression.columns)
    in_table = [g for g in sm.samples.index if g in columns or not columns]
    raw = sm.samples.loc[in_table, col]
    norm = raw.fillna("").astype(str).str.strip().str.lower()
    observed = raw[norm != ""].astype(str).str.strip().value_counts()
    seen = ", ".join(f"'{v}' {n}" for v, n in observed.items())
    wanted = {str(v).strip().lower() for v in compare["values"]}
    for v in compare["values"]:
        if not (norm == str(v).strip().lower()).any():
            raise FerroscopeError(
                f"value '{v}' of samples.compare.values matches no sample's '{col}'. Observed "
                f"values (count): {seen}.", file=source, field="samples.compare.values",
                fix="use the values exactly as the series writes them (case ignored).")
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


def read_expression_supplement(path: str | Path, samples: pd.DataFrame, *, sample_key: str,
                               header_startswith: str | None = None,
                               drop_row_prefixes: list[str] | tuple[str, ...] = ()
                               ) -> tuple[pd.DataFrame, dict[str, int]]:
    """A supplementary expression table -> rows x GSM (columns named by the series' samples).

    Description lines before the header are skipped: the header is the first line starting
    with ``header_startswith``, or else the first line naming at least half of the samples.
    Columns are matched to samples by ``sample_key``: ``geo_accession``, ``title`` or
    ``title_suffix`` (the last space-separated word of the sample title: GSE140901 title
    ``HCC S01`` -> column ``S01``).
    Rows starting with one of ``drop_row_prefixes`` (NanoString ``NEG_``/``POS_`` controls)
    are dropped and counted. Every sample of the series must have a column and every
    column a sample, else the run stops naming both lists.
    """
    import numpy as np
    import pandas as pd

    path = Path(path)
    if sample_key == "geo_accession":
        names = pd.Series(samples.index, index=samples.index)
    elif "title" not in samples.columns:
        raise FerroscopeError("the series has no sample titles.", file=str(path),
                              field="expression_supplement.sample_key",
                              fix="use sample_key: geo_accession.")
    elif sample_key == "title":
        names = samples["title"].astype(str).str.strip()
    else:
        names = samples["title"].astype(str).str.strip().str.split().str[-1]
    if names.duplicated().any():
        dup = names[names.duplicated()].iloc[0]
        raise FerroscopeError(f"two samples share the name '{dup}' ({sample_key}).",
                              file=str(path), field="expression_supplement.sample_key",
                              fix="use sample_key: title or geo_accession.")
    wanted = set(names)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        lines = fh.readlines()

    def is_header(line: str) -> bool:
        if header_startswith:
            return line.startswith(header_startswith)
        cells = {c.strip().strip('"') for c in line.rstrip("\n").split("\t")[1:]}
        return len(cells & wanted) >= max(1, len(wanted) // 2)

    start = next((i for i, ln in enumerate(lines) if is_header(ln)), None)
    if start is None:
        raise FerroscopeError(
            "no header line found"
            + (f" starting with '{header_startswith}'" if header_startswith else
               f" naming the samples by {sample_key} (e.g. {sorted(wanted)[:3]})")
            + f"; the file starts {[ln[:60] for ln in lines[:3]]}.", file=str(path),
            field="expression_supplement.sample_key",
            fix="choose the sample_key that names the columns (geo_accession, title, "
                "title_suffix) or set header_startswith.")
    table = pd.read_csv(io.StringIO("".join(lines[start:])), sep="\t", index_col=0, dtype=str)
    table = table.loc[:, ~table.columns.astype(str).str.startswith("Unnamed")]
    table.columns = [str(c).strip() for c in table.columns]
    table.index = pd.Index([str(i).strip() for i in table.index], name="gene")
    table = table[~table.index.isin(["", "nan"])]
    to_gsm = {n: g for g, n in names.items()}
    unknown = [c for c in table.columns if c not in to_gsm]
    absent = [n for n in names if n not in table.columns]
    if unknown or absent:
        raise FerroscopeError(
            f"the columns of the supplementary table do not match the series' samples "
            f"({sample_key}): columns without a sample {unknown[:5]}, samples without a column "
            f"{absent[:5]} (columns start {list(table.columns[:5])}).", file=str(path),
            field="expression_supplement.sample_key",
            fix="choose the sample_key that names the columns (geo_accession, title, "
                "title_suffix).")
    drop = table.index.str.startswith(tuple(drop_row_prefixes)) if drop_row_prefixes else \
        pd.Series(False, index=table.index).to_numpy()
    expr = table.loc[~drop].rename(columns=to_gsm)
    values = expr.apply(pd.to_numeric, errors="coerce")
    bad = values.isna() & expr.notna() & ~expr.isin(["", "NA", "NaN", "null"])
    if bad.to_numpy().any():
        r, c = np.argwhere(bad.to_numpy())[0]
        raise FerroscopeError(
            f"non-numeric value {expr.iat[r, c]!r} at row '{expr.index[r]}', column "
            f"'{expr.columns[c]}' ({int(bad.to_numpy().sum())} such cells).", file=str(path),
            field="expression_supplement",
            fix="check header_startswith (the header row) and the file's format.")
    return values, {"rows": len(table), "control_rows_dropped": int(np.sum(drop)),
                    "genes": int(values.index.nunique())}


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


def downloads(cohort: Cohort, mirrors: Mapping[str, str]) -> Downloads:
    """role -> (file name, URL): the series matrix, the platform table and the supplements."""
    base, gse = mirrors["geo"], cohort["accession"]
    gpl = cohort["platform"] if cohort.get("multi_platform") else None
    matrix = series_matrix_url(base, gse, gpl)
    out = {"matrix": (matrix.rsplit("/", 1)[1], matrix)}
    pt = cohort.get("probe_table")
    if pt:
        table = pt.get("url") or platform_file_url(base, cohort["platform"], pt["file"])
        out["probe_table"] = (table.rsplit("/", 1)[1], table)
    for role in ("clinical_supplement", "expression_supplement"):
        if cohort.get(role):
            name = cohort[role]["file"]
            out[role] = (name, supplement_url(base, gse, name))
    return out


def validate(cid: str, cohort: Cohort, ctx: CheckContext) -> None:
    """A platform table unless the expression rows are symbols; its file or its URL."""
    sup = cohort.get("expression_supplement")
    if (sup is None or sup.get("rows", "symbols") == "probes") and not cohort.get("probe_table"):
        raise ctx.error(cid, "probe_table",
                        "a GEO cohort needs this key (its expression rows are probes).",
                        "see README 'Public cohorts' and config/public_cohorts.yaml for "
                        "examples.")
    pt = cohort.get("probe_table")
    if pt is not None and ("file" in pt) == ("url" in pt):
        raise ctx.error(cid, "probe_table", "give exactly one of file and url.",
                        "file: a name under GEO's platform annot (or soft) folder, or url: a "
                        "full URL.")


def assemble(inputs: Mapping[str, str], cohort: Cohort, log: logging.Logger) -> Assembled:
    """Series matrix (or a supplementary expression table) + platform table (+ clinical
    supplement) -> expression, clinical, and the samples.keep counts."""
    from ..io import read_table

    acc = cohort["accession"]
    sm = read_series_matrix(inputs["matrix"])
    if cohort["platform"] not in sm.platforms:
        log.warning("series lists platforms %s, config says %s", sm.platforms,
                    cohort["platform"])
    counts: dict[str, int] = {}
    keep = cohort.get("samples", {}).get("keep")
    gsm = select_samples(sm, keep, inputs["matrix"], counts)
    log.info("%s: samples.keep kept %d, excluded %d, without the characteristic %d",
             acc, counts["kept"], counts["excluded"], counts["missing"])
    compare = cohort.get("samples", {}).get("compare")
    # the comparison group rides along after the tumours; the prepare step removes it again
    # (ferroscope.tissue.tumour_only), the tissue step keeps it
    comparison = select_comparison(sm, compare, keep, inputs["matrix"]) if compare else []
    samples = gsm + comparison
    sup_cfg = cohort.get("expression_supplement")
    if sup_cfg:
        raw, stats = read_expression_supplement(
            inputs["expression_supplement"], sm.samples, sample_key=sup_cfg["sample_key"],
            header_startswith=sup_cfg.get("header_startswith"),
            drop_row_prefixes=sup_cfg.get("drop_row_prefixes", []))
        raw = raw[samples]
        log.info("%s: expression from %s: %s", acc, inputs["expression_supplement"], stats)
    else:
        raw = sm.expression[samples]
    if "probe_table" in inputs:
        pt = cohort["probe_table"]
        symbols = read_platform_table(inputs["probe_table"], pt["probe_column"],
                                      pt["symbol_column"])
        expr, stats = map_probes(raw, symbols)
        log.info("%s: %d of %d samples kept; probes: %s", acc, len(gsm), len(sm.samples),
                 stats)
    else:
        expr = raw
    supplement = None
    if "clinical_supplement" in inputs:
        supplement = read_table(inputs["clinical_supplement"], what="clinical supplement")
    clinical = clinical_table(sm, samples, supplement,
                              cohort.get("clinical_supplement", {}).get("id_column"),
                              inputs.get("clinical_supplement", inputs["matrix"]))
    expr.index.name = "gene"
    selection = {"mapping": "samples.keep",
                 "column": (keep or {}).get("characteristic", "(all)"),
                 "kept": counts["kept"], "dropped": counts["excluded"] + counts["missing"],
                 "excluded": counts["excluded"], "missing": counts["missing"]}
    records = [selection]
    if compare:
        from ..tissue import compare_record

        clinical = mark_comparison(clinical, comparison, cohort["samples"].get("pair_by"),
                                   inputs.get("clinical_supplement", inputs["matrix"]))
        records.append(compare_record(clinical, compare["characteristic"]))
        log.info("%s: samples.compare: %s", acc, records[-1])
    return Assembled(expr, clinical, records=records)


SOURCE = Source(
    name="geo",
    summary="a GEO series (series matrix or supplementary table, platform table) from "
            "mirrors.geo",
    downloads=downloads,
    assemble=assemble,
    validate=validate,
    mem_mb=4000,
    runtime_min=20,
)
