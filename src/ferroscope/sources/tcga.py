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
barcode. With ``samples.compare: {sample_types: ["11"]}`` the solid-tissue normals (one per
patient) follow the tumours, named by their sample barcode, for the tumour vs non-tumour
analysis (ferroscope.tissue); the prepare step removes them again.

Registered as the ``tcga`` cohort source (:data:`SOURCE`: :func:`downloads`, :func:`assemble`);
its config keys are in workflow/schemas/sources/tcga.schema.yaml.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import FerroscopeError
from . import Assembled, Cohort, Downloads, Source

if TYPE_CHECKING:  # pandas is imported where used: the registry is read at parse time
    import pandas as pd

#: file name of the TCGA-CDR download (its GDC file id is config `cdr_file_id`, default in
#: workflow/schemas/sources/tcga.schema.yaml)
CDR_FILE = "TCGA-CDR-SupplementalTableS1.xlsx"
BARCODE = re.compile(r"^(TCGA-[A-Z0-9]{2}-[A-Z0-9]{4})-(\d{2})([A-Z]?)")


def xena_url(base: str, file: str) -> str:
    return f"{base.rstrip('/')}/{file}"


def read_cdr(path: str | Path, cancer_type: str = "LIHC") -> pd.DataFrame:
    """TCGA-CDR Table S1 (xlsx, sheet TCGA-CDR; or a TSV export) restricted to one type."""
    import pandas as pd

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


#: GDC clinical fields kept (section.field as in the GDC portal export) -> column written
GDC_FIELDS = {
    "diagnoses.ajcc_pathologic_stage": "gdc_stage",
    "diagnoses.tumor_grade": "gdc_grade",
    "demographic.age_at_index": "gdc_age",
    "demographic.gender": "gdc_sex",
    "treatments.therapeutic_agents": "gdc_agents",
}
_MISSING = ["'--", "--", "not reported", "Not Reported", "Unknown", "unknown"]


GDC_SECTIONS = ("cases", "demographic", "diagnoses", "treatments", "exposures", "samples",
                "project", "pathology_details", "annotations", "follow_ups",
                "molecular_tests", "other_clinical_attributes", "family_histories")


def _gdc_name(col: str) -> str:
    """GDC field names of both layouts -> ``section.field`` (the GDC portal export's form).

    The GDC portal writes ``section.field`` (``treatments.therapeutic_agents``); the Xena GDC
    hub writes the field first and then its sections from the innermost out:
    ``ajcc_pathologic_stage.diagnoses`` and, for nested sections,
    ``therapeutic_agents.treatments.diagnoses`` (treatments within diagnoses). The field's
    own (innermost) section is the one kept.
    """
    parts = col.split(".")
    if len(parts) >= 2 and parts[0] not in GDC_SECTIONS and all(
            p in GDC_SECTIONS for p in parts[1:]):
        return f"{parts[1]}.{parts[0]}"
    return col


def read_gdc_clinical(path: str | Path) -> pd.DataFrame:
    """GDC clinical table (one row per case x diagnosis x treatment) -> one row per patient.

    Reads the GDC portal export (``cases.submitter_id``, ``diagnoses.ajcc_pathologic_stage``,
    missing values written ``'--``) and the same fields named ``field.section`` as on the Xena
    GDC hub (patient from ``submitter_id`` / ``sample``). Per patient, rows of the primary
    diagnosis are preferred and each field takes its first non-missing value; treatment agents
    are joined (``;``). The stage is also reduced to I-IV (``gdc_stage_group``).
    """
    import pandas as pd

    table = pd.read_csv(path, sep="\t", na_values=_MISSING, keep_default_na=True,
                        low_memory=False)
    table.columns = [_gdc_name(str(c)) for c in table.columns]
    id_col = next((c for c in ("cases.submitter_id", "submitter_id", "sample",
                               "samples.submitter_id") if c in table.columns), None)
    if id_col is None:
        raise FerroscopeError(
            "no patient column (cases.submitter_id, submitter_id or sample) in the GDC "
            f"clinical table; columns start {list(table.columns[:6])}.", file=str(path),
            fix="use the GDC portal clinical export or the Xena GDC hub clinical file.")
    table["bcr_patient_barcode"] = table[id_col].astype(str).str.slice(0, 12)
    bad = ~table["bcr_patient_barcode"].str.match(r"^TCGA-[A-Z0-9]{2}-[A-Z0-9]{4}$")
    if bad.all():
        raise FerroscopeError(f"no TCGA patient barcode in column '{id_col}'.", file=str(path),
                              field=id_col, fix="use a TCGA clinical table.")
    table = table[~bad]
    primary = "diagnoses.diagnosis_is_primary_disease"
    if primary in table.columns:
        flag = table[primary].astype(str).str.lower().eq("true")
        table = table.assign(_rank=(~flag).astype(int)).sort_values(
            ["bcr_patient_barcode", "_rank"], kind="stable")
    present = [f for f in GDC_FIELDS if f in table.columns]
    groups = table.groupby("bcr_patient_barcode", sort=True)
    out = pd.DataFrame(index=pd.Index(sorted(groups.groups), name="bcr_patient_barcode"))
    for field in present:
        if field == "treatments.therapeutic_agents":
            out[GDC_FIELDS[field]] = groups[field].agg(
                lambda v: ";".join(sorted(set(v.dropna().astype(str)))) or pd.NA)
        else:
            out[GDC_FIELDS[field]] = groups[field].first()
    if "gdc_stage" in out:
        out["gdc_stage_group"] = out["gdc_stage"].astype("string").str.extract(
            r"^Stage (IV|I{1,3})", expand=False)
    return out.reset_index()


def strip_ensembl_version(ids: pd.Index) -> pd.Index:
    import pandas as pd

    return pd.Index([re.sub(r"\.\d+(_PAR_Y)?$", r"\1", str(i)) for i in ids])


def primary_tumours(samples: list[str]) -> dict[str, str]:
    """patient barcode -> the sample kept (sample type 01, first vial in barcode order)."""
    chosen: dict[str, str] = {}
    for s in sorted(samples):
        m = BARCODE.match(s)
        if m and m.group(2) == "01" and m.group(1) not in chosen:
            chosen[m.group(1)] = s
    return chosen


def comparison_samples(samples: list[str], sample_types: list[str]) -> dict[str, str]:
    """patient barcode -> the comparison sample kept (one of ``sample_types``, e.g. 11 = solid
    tissue normal; the first in barcode order: vial A before B)."""
    chosen: dict[str, str] = {}
    for s in sorted(samples):
        m = BARCODE.match(s)
        if m and m.group(2) in sample_types and m.group(1) not in chosen:
            chosen[m.group(1)] = s
    return chosen


def xena_expression(matrix: pd.DataFrame, probemap: pd.DataFrame, source: str,
                    compare_types: list[str] | None = None) -> pd.DataFrame:
    """Xena genes x samples (Ensembl rows) -> symbols x patients, primary tumours only; with
    ``compare_types``, the comparison samples follow, named by their sample barcode."""
    import pandas as pd

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
    normals = comparison_samples(list(expr.columns), compare_types) if compare_types else {}
    if compare_types and not normals:
        raise FerroscopeError(f"no sample of type {compare_types} (samples.compare) in the "
                              "matrix.", file=source, field="samples.compare.sample_types",
                              fix="use 11 (solid tissue normal) or remove samples.compare.")
    out = expr[list(tumours.values()) + list(normals.values())]
    out.columns = list(tumours.keys()) + list(normals.values())
    return out


def downloads(cohort: Cohort, mirrors: Mapping[str, str]) -> Downloads:
    """role -> (file name, URL): Xena matrix and probemap, TCGA-CDR (+ GDC clinical)."""
    xena = mirrors["xena_gdc"]
    out = {role: (cohort[key], xena_url(xena, cohort[key]))
           for role, key in (("expression", "expression_file"), ("probemap", "probemap_file"))}
    out["cdr"] = (CDR_FILE, f"{mirrors['gdc_api']}/{cohort['cdr_file_id']}")
    if cohort.get("clinical_file"):
        out["gdc_clinical"] = (cohort["clinical_file"], xena_url(xena, cohort["clinical_file"]))
    return out


def assemble(inputs: Mapping[str, str], cohort: Cohort, log: logging.Logger) -> Assembled:
    """Xena matrix (Ensembl x samples) + probemap + TCGA-CDR (+ GDC clinical) -> expression
    (primary tumours, one per patient) and clinical (one row per patient)."""
    import pandas as pd

    from ..prepare import read_expression

    matrix = read_expression(inputs["expression"], what="Xena expression matrix")
    probemap = pd.read_csv(inputs["probemap"], sep="\t", dtype=str)
    compare = cohort.get("samples", {}).get("compare")
    types = [str(t) for t in compare["sample_types"]] if compare else None
    expr = xena_expression(matrix, probemap, inputs["expression"], types)
    cdr = read_cdr(inputs["cdr"], cohort["cancer_type"])
    if "gdc_clinical" in inputs:
        gdc = read_gdc_clinical(inputs["gdc_clinical"])
        cdr = cdr.merge(gdc, on="bcr_patient_barcode", how="left")
        log.info("GDC clinical: %d patients, %d of them in TCGA-CDR; stage groups %s",
                 len(gdc), int(cdr["bcr_patient_barcode"].isin(gdc["bcr_patient_barcode"]).sum()),
                 cdr.get("gdc_stage_group", pd.Series(dtype=str)).value_counts().to_dict())
    log.info("%s: %d primary tumours of %d samples; %d genes; TCGA-CDR %d patients",
             cohort["project"], expr.shape[1], matrix.shape[1], expr.shape[0], len(cdr))
    expr.index.name = "gene"
    records = []
    if compare:
        cdr, records = mark_comparison(cdr, list(expr.columns), log)
    return Assembled(expr, cdr, records=records)


def mark_comparison(cdr: pd.DataFrame, samples: list[str], log: logging.Logger
                    ) -> tuple[pd.DataFrame, list[dict]]:
    """CDR rows (tumours, one per patient) plus one row per comparison sample (its barcode
    as ``bcr_patient_barcode``), with the reserved tissue columns: group and patient."""
    import pandas as pd

    from ..tissue import GROUP, NON_TUMOUR, PAIR, TUMOUR, compare_record

    normals = [s for s in samples if len(s) > 12]
    out = cdr.assign(**{GROUP: TUMOUR, PAIR: cdr["bcr_patient_barcode"]})
    extra = pd.DataFrame({"bcr_patient_barcode": normals, GROUP: NON_TUMOUR,
                          PAIR: [s[:12] for s in normals]})
    out = pd.concat([out, extra], ignore_index=True)
    record = compare_record(out, "sample type")
    log.info("samples.compare: %d comparison samples, %d pairs", record["kept"],
             record["pairs"])
    return out, [record]


SOURCE = Source(
    name="tcga",
    summary="a TCGA project: UCSC Xena GDC hub matrices (mirrors.xena_gdc) and TCGA-CDR "
            "outcomes (mirrors.gdc_api)",
    downloads=downloads,
    assemble=assemble,
    mem_mb=8000,
    runtime_min=30,
)
