"""TCGA-LIHC: UCSC Xena GDC hub matrices and the TCGA-CDR survival table.

URLs (``mirrors.xena_gdc``, default ``https://gdc-hub.s3.us-east-1.amazonaws.com/download``)::

    {xena_gdc}/TCGA-LIHC.star_tpm.tsv.gz               genes (Ensembl, versioned) x samples,
                                                         log2(TPM + 1)
    {xena_gdc}/TCGA-LIHC.survival.tsv.gz                sample, OS, OS.time (days), _PATIENT
    {xena_gdc}/TCGA-LIHC.clinical.tsv.gz                GDC clinical, one row per sample
    {xena_gdc}/gencode.v36.annotation.gtf.gene.probemap Ensembl id -> gene symbol

TCGA-CDR (Liu et al. 2018 Cell 173:400, Table S1, ``TCGA-CDR-SupplementalTableS1.xlsx``, sheet
``TCGA-CDR``) is the curated pan-cancer outcome table (OS, DSS, DFI, PFI with times in days);
rows of ``type == LIHC`` are kept.

Harmonisation: Ensembl versions are stripped (``ENSG00000181019.13`` -> ``ENSG00000181019``) and
ids mapped to symbols through the probemap; primary tumours are the samples whose barcode's
sample type is ``01`` (``TCGA-XX-XXXX-01A``); a patient with several tumour aliquots keeps the
first in barcode order (vial A before B); the join with CDR is on the 12-character patient
barcode.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..errors import FerroscopeError

CDR_FILE = "TCGA-CDR-SupplementalTableS1.xlsx"
#: GDC file id of TCGA-CDR-SupplementalTableS1.xlsx (PanCanAtlas publication page)
CDR_FILE_ID = "1b5f413e-a8d1-4d10-92eb-7c4ae739ed81"
BARCODE = re.compile(r"^(TCGA-[A-Z0-9]{2}-[A-Z0-9]{4})-(\d{2})([A-Z]?)")


def xena_url(base: str, file: str) -> str:
    return f"{base.rstrip('/')}/{file}"


def read_cdr(path: str | Path, cancer_type: str = "LIHC") -> pd.DataFrame:
    """TCGA-CDR Table S1 (xlsx, sheet TCGA-CDR; or a TSV export) restricted to one type."""
    path = Path(path)
    if path.suffix == ".xlsx":
        try:
            table = pd.read_excel(path, sheet_name="TCGA-CDR", engine="openpyxl")
        except ValueError as exc:
            raise FerroscopeError(f"no sheet 'TCGA-CDR' ({exc}).", file=str(path),
                                  fix="use TCGA-CDR-SupplementalTableS1.xlsx from the GDC "
                                      "PanCanAtlas publication page.") from exc
    else:
        table = pd.read_csv(path, sep="\t")
    table = table.loc[:, ~table.columns.astype(str).str.startswith("Unnamed")]
    for col in ("bcr_patient_barcode", "type", "OS", "OS.time"):
        if col not in table.columns:
            raise FerroscopeError(f"column '{col}' missing from the TCGA-CDR table.",
                                  file=str(path), fix="use the original Table S1.")
    out = table[table["type"] == cancer_type].reset_index(drop=True)
    if out.empty:
        raise FerroscopeError(f"no rows of type '{cancer_type}'.", file=str(path),
                              field="type", fix="use a TCGA study code such as LIHC.")
    if out["bcr_patient_barcode"].duplicated().any():
        dup = out.loc[out["bcr_patient_barcode"].duplicated(), "bcr_patient_barcode"].iloc[0]
        raise FerroscopeError(f"patient '{dup}' appears twice.", file=str(path),
                              field="bcr_patient_barcode", fix="use the original Table S1.")
    return out


def strip_ensembl_version(ids: pd.Index) -> pd.Index:
    return pd.Index([re.sub(r"\.\d+(_PAR_Y)?$", r"\1", str(i)) for i in ids])


def primary_tumours(samples: list[str]) -> dict[str, str]:
    """patient barcode -> the sample kept (sample type 01, first vial in barcode order)."""
    chosen: dict[str, str] = {}
    for s in sorted(samples):
        m = BARCODE.match(s)
        if m and m.group(2) == "01" and m.group(1) not in chosen:
            chosen[m.group(1)] = s
    return chosen


def xena_expression(matrix: pd.DataFrame, probemap: pd.DataFrame,
                    source: str) -> pd.DataFrame:
    """Xena genes x samples (Ensembl rows) -> symbols x patients, primary tumours only."""
    ids = strip_ensembl_version(matrix.index)
    pm = probemap.copy()
    pm.index = strip_ensembl_version(pm.iloc[:, 0].astype(str))
    symbols = pm.iloc[:, 1].reindex(ids)
    keep = symbols.notna().to_numpy()
    expr = matrix.loc[keep]
    expr.index = pd.Index(symbols[keep].to_numpy(), name="gene")
    tumours = primary_tumours(list(expr.columns))
    if not tumours:
        raise FerroscopeError("no primary-tumour sample (barcode ...-01A) in the matrix.",
                              file=source, fix="use a TCGA sample-level matrix.")
    out = expr[list(tumours.values())]
    out.columns = list(tumours.keys())
    return out
