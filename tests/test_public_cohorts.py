"""Every public cohort of config/public_cohorts.yaml on its real characteristic strings.

No public series matrix of these cohorts (except GSE14520-GPL571) is small enough to be in
../shared, but their sample annotations are (GEOquery pData, curated label tables; see each
PROVENANCE.md). Each test writes a series-matrix header (and, for GSE140901, the supplementary
expression table) from those annotations with GEO's verbatim "key: value" strings, then runs it
through the parser, the sample selection and the clinical mapping of the public config entry,
asserting the known counts. Where ../shared holds a curation rather than GEO's own strings, the
GEO string form comes from the public builder scripts cited in config/public_cohorts.yaml
(`evidence:`); the test says which.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml

from ferroscope.errors import FerroscopeError
from ferroscope.prepare import standardise_clinical
from ferroscope.sources import geo, tcga

from .conftest import REPO, make_workdir, run_snakemake, shared_path, write_series_matrix
from .mirror import Mirror

PUBLIC = yaml.safe_load((REPO / "config" / "public_cohorts.yaml").read_text())["cohorts"]


def write_matrix(path: Path, gsm: list[str], titles, characteristics: list[list[str]],
                 platform: str, rows: dict[str, list[float]] | None = None) -> Path:
    """A GEO series matrix: header lines, then the table (empty when data are supplementary)."""
    header = [("Series_platform_id", [platform]), ("Sample_title", titles),
              ("Sample_geo_accession", gsm),
              *[("Sample_characteristics_ch1", row) for row in characteristics]]
    return write_series_matrix(path, header, gsm, rows)


def clinical(entry: dict, clin: pd.DataFrame, cohort: str) -> pd.DataFrame:
    return standardise_clinical(clin, entry["clinical"], source="clinical.tsv", cohort=cohort)


def records(std: pd.DataFrame) -> dict[str, dict]:
    return {r["mapping"]: r for r in std.attrs["mapping"]}


# ------------------------------------------------------------------------------ GSE104580

@pytest.mark.shared
def test_gse104580_tace_responders_81_and_66(tmp_path):
    """GSM ids and labels from ../shared (DDELabs curation, which stripped 'TACE ' from GEO's
    'subject subgroup' values); GEO writes 'TACE responders' / 'TACE non-responders'."""
    cur = pd.read_csv(shared_path("cohorts", "GSE104580", "clinical.tsv"), sep="\t")
    strings = "subject subgroup: TACE " + cur["response"]
    assert set(strings) == {"subject subgroup: TACE responders",
                            "subject subgroup: TACE non-responders"}
    path = write_matrix(tmp_path / "GSE104580_series_matrix.txt.gz", cur["sample"].tolist(),
                        [f"tumour {i}" for i in range(len(cur))], [strings.tolist()], "GPL570",
                        {"1007_s_at": [7.0] * len(cur)})
    entry = PUBLIC["GSE104580"]
    sm = geo.read_series_matrix(path)
    kept = geo.select_samples(sm, entry.get("samples", {}).get("keep"), str(path))
    std = clinical(entry, geo.clinical_table(sm, kept, None, None, str(path)), "GSE104580")
    r = records(std)["response"]
    assert (r["responders"], r["non_responders"], r["dropped"]) == (81, 66, 0)
    # the old mapping ("responders") now stops instead of turning every response missing
    old = dict(entry["clinical"], response=dict(entry["clinical"]["response"],
                                                responder_values=["responders"]))
    with pytest.raises(FerroscopeError, match="'responders'.*matches no sample.*"
                                              "'TACE responders' 81"):
        standardise_clinical(geo.clinical_table(sm, kept, None, None, str(path)), old,
                             source="c", cohort="GSE104580")


# ------------------------------------------------------------------------------ GSE109211

def storm_matrix(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """GSM ids, titles and labels from ../shared (DDELabs curation of GEO's 'treatment' and
    'outcome'); GEO writes treatment 'Sor' / 'Plac' and outcome 'responder' / 'non-responder'
    (the mapping in DDELabs build_geo_trials.py)."""
    cur = pd.read_csv(shared_path("cohorts", "GSE109211", "clinical.tsv"), sep="\t")
    treatment = cur["arm"].map({"sorafenib": "treatment: Sor", "placebo": "treatment: Plac"})
    outcome = cur["response"].map({"R": "outcome: responder", "NR": "outcome: non-responder"})
    assert treatment.notna().all() and outcome.notna().all()
    probes = pd.read_csv(shared_path("platforms-reference",
                                     "derived_GPL13938_probe2symbol_idmap2.tsv"), sep="\t")
    rng = np.random.default_rng(0)
    rows = {p: np.round(rng.normal(8, 1, len(cur)), 3) for p in probes["ID"][:300]}
    path = write_matrix(tmp_path / "GSE109211_series_matrix.txt.gz", cur["sample"].tolist(),
                        cur["title"], [treatment.tolist(), outcome.tolist()], "GPL13938", rows)
    return path, cur


@pytest.mark.shared
def test_gse109211_storm_arms_67_sor_73_plac(tmp_path):
    path, _ = storm_matrix(tmp_path)
    entry = PUBLIC["GSE109211"]
    sm = geo.read_series_matrix(path)
    kept = geo.select_samples(sm, None, str(path))
    std = clinical(entry, geo.clinical_table(sm, kept, None, None, str(path)), "GSE109211")
    r = records(std)
    assert r["arm"]["arms"] == {"Sor": 67, "Plac": 73}
    assert (r["response"]["responders"], r["response"]["non_responders"]) == (42, 98)
    treated = std[std["arm"] == "Sor"]
    assert int(treated["response"].sum()) == 21 and len(treated) == 67
    # the old arm names match nothing and now say so
    old = dict(entry["clinical"], response=dict(entry["clinical"]["response"],
                                                arm="Sorafenib", control_arm="Placebo"))
    with pytest.raises(FerroscopeError, match="'Sorafenib'.*does not exist.*'Plac' 73, "
                                              "'Sor' 67"):
        standardise_clinical(geo.clinical_table(sm, kept, None, None, str(path)), old,
                             source="c", cohort="GSE109211")


def soft_family(path: Path, table: pd.DataFrame) -> Path:
    """A GPL SOFT family file: header, column descriptions, the table, then a sample record."""
    text = ("^DATABASE = GeoMiame\n!Database_name = Gene Expression Omnibus (GEO)\n"
            "^PLATFORM = GPL13938\n!Platform_title = Illumina HumanHT-12 WG-DASL V4.0 R2\n")
    text += "".join(f"#{c} = description of {c}\n" for c in table.columns)
    text += "!platform_table_begin\n" + table.to_csv(sep="\t", index=False)
    text += "!platform_table_end\n^SAMPLE = GSM1\n!sample_table_begin\nID_REF\tVALUE\n"
    text += "ILMN_0000\t1.0\n!sample_table_end\n"
    with gzip.open(path, "wt") as fh:
        fh.write(text)
    return path


@pytest.mark.shared
def test_gpl13938_platform_table_read_from_the_soft_family_file(tmp_path):
    ids = pd.read_csv(shared_path("platforms-reference",
                                  "derived_GPL13938_probe2symbol_idmap2.tsv"), sep="\t")
    table = pd.DataFrame({"ID": ids["ID"], "Species": "Homo sapiens", "Source": "RefSeq",
                          "Symbol": ids["symbol"], "Definition": "a, b (c)"})
    path = soft_family(tmp_path / "GPL13938_family.soft.gz", table)
    pt = PUBLIC["GSE109211"]["probe_table"]
    assert geo.platform_file_url("https://x/geo", "GPL13938", pt["file"]) == (
        "https://x/geo/platforms/GPL13nnn/GPL13938/soft/GPL13938_family.soft.gz")
    symbols = geo.read_platform_table(path, pt["probe_column"], pt["symbol_column"])
    assert len(symbols) == 29285 and symbols["ILMN_1796063"] == "TRIM44"
    assert "ILMN_0000" not in symbols.index  # the sample table after the platform is not read


@pytest.mark.bad_input
def test_platform_symbol_column_absent_lists_the_columns(tmp_path):
    table = pd.DataFrame({"ID": ["ILMN_1"], "ILMN_Gene": ["GPX4"], "Symbol": ["GPX4"]})
    path = soft_family(tmp_path / "GPL1_family.soft.gz", table)
    with pytest.raises(FerroscopeError) as info:
        geo.read_platform_table(path, "ID", "Gene symbol")
    text = str(info.value)
    assert "column 'Gene symbol' not in the platform table (columns: ID, ILMN_Gene, Symbol)" \
        in text and "symbol columns present: ['Symbol']" in text
    assert "probe_table.symbol_column" in text and "Fix:" in text


# ------------------------------------------------------------------------------ GSE140901

def pd1_files(tmp_path: Path, genes: list[str]) -> tuple[Path, Path, pd.DataFrame]:
    """Series matrix (no data rows) + GSE140901_processed_data.txt.gz for the 24 patients.

    Labels from ../shared (DDELabs curation of GEO's characteristics; GEO gives times in weeks,
    which the curation converted to months: converted back here). Keys and values as GEO
    writes them: best_response PR/SD/PD, clinical_benefit_response Yes/No, os_time, os_event,
    pfs_time, pfs_event. Titles 'HCC Sxx' whose 'Sxx' part names the supplement's columns.
    """
    cur = pd.read_csv(shared_path("cohorts", "GSE140901", "clinical.tsv"), sep="\t")
    weeks = 30.4375 / 7
    short = [f"S{i:02d}" for i in range(1, len(cur) + 1)]
    chars = [
        [f"best_response: {v}" for v in cur["response"]],
        [f"clinical_benefit_response: {'Yes' if v else 'No'}" for v in cur["clinical_benefit"]],
        [f"os_time: {round(v * weeks, 1)}" for v in cur["os_months"]],
        [f"os_event: {int(v)}" for v in cur["os_event"]],
        [f"pfs_time: {round(v * weeks, 1)}" for v in cur["pfs_months"]],
        [f"pfs_event: {int(v)}" for v in cur["pfs_event"]],
    ]
    matrix = write_matrix(tmp_path / "GSE140901_series_matrix.txt.gz", cur["sample"].tolist(),
                          [f"HCC {s}" for s in short], chars, "GPL19965")
    rng = np.random.default_rng(1)
    rows = genes + ["NEG_A(0)", "NEG_B(0)", "POS_A(128)"]
    body = pd.DataFrame(np.round(rng.normal(9, 1.5, (len(rows), len(short))), 4),
                        index=pd.Index(rows, name="Gene"), columns=short)
    text = ("NanoString PanCancer IO 360 panel\nTMM-normalised log2 counts\n"
            "processed with nSolver\n\n" + body.to_csv(sep="\t"))
    sup = tmp_path / "GSE140901_processed_data.txt.gz"
    with gzip.open(sup, "wt") as fh:
        fh.write(text)
    return matrix, sup, cur


@pytest.mark.shared
def test_gse140901_24_patients_pr_sd_pd_weeks_to_months(tmp_path):
    matrix, sup, cur = pd1_files(tmp_path, ["CD274", "PDCD1", "GPX4"])
    entry = PUBLIC["GSE140901"]
    sm = geo.read_series_matrix(matrix)
    assert sm.expression.shape == (0, 24)
    kept = geo.select_samples(sm, None, str(matrix))
    s = entry["expression_supplement"]
    expr, stats = geo.read_expression_supplement(
        sup, sm.samples, sample_key=s["sample_key"], drop_row_prefixes=s["drop_row_prefixes"])
    assert list(expr.index) == ["CD274", "PDCD1", "GPX4"] and stats["control_rows_dropped"] == 3
    assert list(expr.columns) == cur["sample"].tolist()
    std = clinical(entry, geo.clinical_table(sm, kept, None, None, str(matrix)), "GSE140901")
    r = records(std)
    assert len(std) == 24
    assert (r["response"]["responders"], r["response"]["non_responders"]) == (6, 18)
    assert r["os_event"]["events"] == 20 and r["os_event"]["kept"] == 24
    np.testing.assert_allclose(std["os_time_months"], cur["os_months"], atol=0.05 * 7 / 30.4)
    np.testing.assert_allclose(std["pfi_time_months"], cur["pfs_months"], atol=0.05 * 7 / 30.4)
    # the old key 'best response' (with a space) names nothing
    old = dict(entry["clinical"], response=dict(entry["clinical"]["response"],
                                                column="best response"))
    with pytest.raises(FerroscopeError, match="'best response'.*best_response"):
        standardise_clinical(geo.clinical_table(sm, kept, None, None, str(matrix)), old,
                             source="c", cohort="GSE140901")


@pytest.mark.bad_input
def test_supplement_columns_not_matching_samples_are_named(tmp_path):
    samples = pd.DataFrame({"title": ["HCC S01", "HCC S02"]},
                           index=pd.Index(["GSM1", "GSM2"], name="geo_accession"))
    sup = tmp_path / "p.txt"
    sup.write_text("description\n\nGene\tS01\tS03\nCD274\t1\t2\n")
    with pytest.raises(FerroscopeError) as info:
        geo.read_expression_supplement(sup, samples, sample_key="title_suffix")
    text = str(info.value)
    assert "columns without a sample ['S03']" in text and "samples without a column ['S02']" \
        in text and "expression_supplement.sample_key" in text and "Fix:" in text


# ------------------------------------------------------------------------------ GSE76427

@pytest.mark.shared
def test_gse76427_115_tumours_of_167_23_deaths_rfs_na_counted(tmp_path):
    """The GEOquery pData in ../shared holds GEO's raw 'key: value' cells verbatim."""
    pdata = pd.read_csv(shared_path("cohorts", "GSE76427", "derived_GSE76427_pdata.tsv"),
                        sep="\t", keep_default_na=False, na_values=[""])
    cols = [c for c in pdata.columns if c.startswith("characteristics_ch1")]
    assert len(pdata) == 167 and len(cols) == 11
    path = write_matrix(tmp_path / "GSE76427_series_matrix.txt.gz", pdata["geo_accession"],
                        pdata["title"], [pdata[c].tolist() for c in cols], "GPL10558",
                        {"ILMN_1": [7.0] * 167})
    entry = PUBLIC["GSE76427"]
    sm = geo.read_series_matrix(path)
    counts: dict[str, int] = {}
    kept = geo.select_samples(sm, entry["samples"]["keep"], str(path), counts)
    assert counts == {"kept": 115, "excluded": 52, "missing": 0}
    std = clinical(entry, geo.clinical_table(sm, kept, None, None, str(path)), "GSE76427")
    r = records(std)
    assert (r["os_event"]["kept"], r["os_event"]["events"]) == (115, 23)
    assert (r["rfs_event"]["kept"], r["rfs_event"]["events"]) == (108, 48)
    assert r["rfs_event"]["event_missing"] == 7 and r["rfs_event"]["time_missing"] == 7
    assert std["os_time_months"].max() == pytest.approx(7.76 * 12)


# ------------------------------------------------------------------------------ TCGA-LIHC

def test_gdc_names_with_nested_sections():
    assert tcga._gdc_name("therapeutic_agents.treatments.diagnoses") == \
        "treatments.therapeutic_agents"
    assert tcga._gdc_name("ajcc_pathologic_stage.diagnoses") == "diagnoses.ajcc_pathologic_stage"
    assert tcga._gdc_name("diagnoses.ajcc_pathologic_stage") == "diagnoses.ajcc_pathologic_stage"
    assert tcga._gdc_name("submitter_id") == "submitter_id"


@pytest.mark.shared
def test_xena_hub_three_part_treatment_fields_give_gdc_agents(tmp_path):
    """The real GDC clinical export renamed to the Xena GDC hub's field.section(.section) form
    gives the same gdc_* columns, treatment agents included (29 sorafenib patients)."""
    src = shared_path("cohorts", "TCGA-LIHC", "clinical.tsv.gz")
    portal = tcga.read_gdc_clinical(src)
    raw = pd.read_csv(src, sep="\t", dtype=str, low_memory=False)

    def xena(col: str) -> str:
        section, _, name = col.partition(".")
        if col == "cases.submitter_id":
            return "submitter_id"
        return f"{name}.treatments.diagnoses" if section == "treatments" else f"{name}.{section}"

    raw.columns = [xena(c) for c in raw.columns]
    assert "therapeutic_agents.treatments.diagnoses" in raw.columns
    hub_file = tmp_path / "TCGA-LIHC.clinical.tsv.gz"
    raw.to_csv(hub_file, sep="\t", index=False)
    hub = tcga.read_gdc_clinical(hub_file)
    assert "gdc_agents" in hub.columns
    pd.testing.assert_frame_equal(hub, portal)
    sorafenib = hub["gdc_agents"].fillna("").str.contains("sorafenib", case=False)
    assert int(sorafenib.sum()) == 29


# ------------------------------------------------------------------ through the workflow

@pytest.mark.slow
@pytest.mark.shared
def test_public_gse140901_and_gse109211_through_the_workflow(tmp_path):
    """The two new download routes against a loopback mirror laid out like GEO: expression
    from a supplementary file (GSE140901) and the platform table from a SOFT family file
    (GSE109211), with the public config entries unchanged except the mirror."""
    root = tmp_path / "host"
    matrix, sup, _ = pd1_files(tmp_path, ["CD274", "PDCD1", "GPX4", "SLC7A11", "NQO1"])
    storm, _ = storm_matrix(tmp_path)
    ids = pd.read_csv(shared_path("platforms-reference",
                                  "derived_GPL13938_probe2symbol_idmap2.tsv"), sep="\t")
    soft = soft_family(tmp_path / "GPL13938_family.soft.gz",
                       pd.DataFrame({"ID": ids["ID"], "Symbol": ids["symbol"]}))
    layout = {
        "series/GSE140nnn/GSE140901/matrix/GSE140901_series_matrix.txt.gz": matrix,
        "series/GSE140nnn/GSE140901/suppl/GSE140901_processed_data.txt.gz": sup,
        "series/GSE109nnn/GSE109211/matrix/GSE109211_series_matrix.txt.gz": storm,
        "platforms/GPL13nnn/GPL13938/soft/GPL13938_family.soft.gz": soft,
    }
    for rel, src in layout.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, root / rel)
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["scoring"]["methods"] = ["mean_z"]
    cfg["download"] = {"retries": 2, "backoff_seconds": 0.05}
    cfg["cohorts"] = {c: PUBLIC[c] for c in ("GSE140901", "GSE109211")}
    with Mirror(root) as mirror:
        cfg["mirrors"] = {"geo": mirror.url}
        wd = make_workdir(tmp_path / "wd", yaml.safe_dump(cfg))
        res = run_snakemake(wd, "results/GSE140901/prepared.h5ad",
                            "results/GSE109211/prepared.h5ad")
    assert res.returncode == 0, res.stderr[-4000:]
    pd1 = ad.read_h5ad(wd / "results" / "GSE140901" / "prepared.h5ad")
    assert pd1.n_obs == 24 and set(pd1.var_names) == {"CD274", "PDCD1", "GPX4", "SLC7A11",
                                                      "NQO1"}
    assert int((pd1.obs["response"] == 1).sum()) == 6
    storm_ad = ad.read_h5ad(wd / "results" / "GSE109211" / "prepared.h5ad")
    assert storm_ad.n_obs == 140 and storm_ad.obs["arm"].value_counts().to_dict() == {
        "Plac": 73, "Sor": 67}
    mapping = json.loads(storm_ad.uns["clinical_mapping"])
    assert {m["mapping"]: m["kept"] for m in mapping} == {"samples.keep": 140,
                                                          "response": 140, "arm": 140}
