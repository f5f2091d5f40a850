"""Strict clinical value mapping: every value config maps is mapped or stops the run.

Each bad input is one case: the error must name the problem, the field or config key and the
fix, and list the observed values with their counts where values are concerned. Direct calls
write nothing; the workflow cases check that no result file was written.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from ferroscope.config import validate_config
from ferroscope.errors import FerroscopeError
from ferroscope.prepare import MISSING_TOKENS, standardise_clinical
from ferroscope.sources import geo

from .conftest import REPO, demo_config, local_cohort_config, make_workdir, run_snakemake

SCHEMAS = REPO / "workflow" / "schemas"

OS = {"os_time": {"column": "days", "unit": "days"},
      "os_event": {"column": "status", "event_values": ["Dead"], "censor_values": ["Alive"]}}
RESPONSE = {"column": "resp", "responder_values": ["CR", "PR"],
            "non_responder_values": ["SD", "PD"], "exclude_values": ["NE"]}


def table(n_dead: int = 45, n_alive: int = 15, **over) -> pd.DataFrame:
    """60 patients: 45 Dead, 15 Alive; responses CR/PR/SD/PD/NE; arms sorafenib/placebo."""
    n = n_dead + n_alive
    df = pd.DataFrame({
        "id": [f"P{i:03d}" for i in range(n)],
        "days": np.arange(1, n + 1) * 30.0,
        "status": ["Dead"] * n_dead + ["Alive"] * n_alive,
        "resp": (["CR", "PR", "SD", "PD", "NE"] * n)[:n],
        "arm": (["sorafenib", "Placebo "] * n)[:n],
    })
    for k, v in over.items():
        df[k] = v
    return df


def run(raw: pd.DataFrame, **mapping):
    return standardise_clinical(raw, {"sample_id": "id", **mapping}, source="clin.tsv",
                                cohort="c1")


def expect(call, *needles: str) -> FerroscopeError:
    """The call fails with one FerroscopeError naming the file, the field and a fix."""
    with pytest.raises(FerroscopeError) as info:
        call()
    err = info.value
    text = str(err)
    assert err.file and err.field and err.fix, text
    for needle in needles:
        assert needle in text, f"{needle!r} not in {text!r}"
    return err


# ---------------------------------------------------------------- values that map correctly

def test_events_censoring_and_counts_are_recorded():
    out = run(table(), **OS)
    assert out["os_event"].tolist() == [1.0] * 45 + [0.0] * 15
    rec = out.attrs["mapping"][0]
    assert rec == {"mapping": "os_event", "column": "status", "kept": 60, "dropped": 0,
                   "events": 45, "censored": 15, "excluded": 0, "event_missing": 0,
                   "time_missing": 0}


def test_na_and_empty_cells_are_missing_and_counted():
    """GEO writes literal NA (GSE76427 event_rfs): missing, counted, not an undeclared value."""
    raw = table(status=["Dead"] * 40 + ["NA", "", " na ", None, np.nan] + ["Alive"] * 15,
                days=[*([30.0] * 57), "NA", "", np.nan])
    out = run(raw, **OS)
    rec = out.attrs["mapping"][0]
    assert rec["event_missing"] == 5 and rec["time_missing"] == 3
    assert rec["kept"] == 52 and rec["dropped"] == 8 and rec["events"] == 40
    assert {"", "na", "nan"} <= MISSING_TOKENS


def test_exclude_values_map_to_missing_on_purpose():
    raw = table(status=["Dead"] * 40 + ["Unknown"] * 5 + ["Alive"] * 15)
    os_ = copy.deepcopy(OS)
    os_["os_event"]["exclude_values"] = ["unknown"]
    rec = run(raw, **os_).attrs["mapping"][0]
    assert rec["excluded"] == 5 and rec["kept"] == 55 and rec["events"] == 40


def test_response_and_arms_compare_case_and_space_insensitively():
    out = run(table(), response=dict(RESPONSE, arm="Sorafenib", control_arm="placebo"),
              arm={"column": "arm"})
    assert set(out["arm"]) == {"Sorafenib", "placebo"}  # written as config names them
    resp = out.attrs["mapping"][0]
    assert resp["responders"] == 24 and resp["non_responders"] == 24 and resp["excluded"] == 12
    arm = out.attrs["mapping"][1]
    assert arm["arms"] == {"Sorafenib": 30, "placebo": 30} and arm["dropped"] == 0


def test_numeric_codes_match_whatever_the_column_type():
    raw = table(status=[1.0] * 45 + [0.0] * 14 + [np.nan])
    os_ = {"os_time": OS["os_time"],
           "os_event": {"column": "status", "event_values": [1], "censor_values": ["0"]}}
    rec = run(raw, **os_).attrs["mapping"][0]
    assert (rec["events"], rec["censored"], rec["event_missing"]) == (45, 14, 1)


def test_weeks_become_months():
    out = run(table(days=[7.0] * 60), os_time={"column": "days", "unit": "weeks"},
              os_event=OS["os_event"])
    assert out["os_time_months"].iloc[0] == pytest.approx(7 * 7 / 30.4375)


# ---------------------------------------------------------------------------- bad inputs

@pytest.mark.bad_input
def test_undeclared_event_value_deceased_beside_dead_stops():
    """The silent case of issue 11: 15 of 45 'Dead' written 'Deceased' became censored."""
    raw = table(status=["Dead"] * 30 + ["Deceased"] * 15 + ["Alive"] * 15)
    expect(lambda: run(raw, **OS), "column 'status'", "'Deceased' (15)",
           "'Dead' 30, 'Deceased' 15, 'Alive' 15", "cohorts.c1.clinical.os_event",
           "censor_values", "exclude_values")


@pytest.mark.bad_input
def test_declared_event_value_matching_nothing_stops():
    os_ = copy.deepcopy(OS)
    os_["os_event"]["event_values"] = ["Deceased"]
    expect(lambda: run(table(), **os_), "value 'Deceased'",
           "cohorts.c1.clinical.os_event.event_values matches no sample",
           "'Dead' 45, 'Alive' 15")


@pytest.mark.bad_input
def test_declared_censor_value_matching_nothing_stops():
    os_ = copy.deepcopy(OS)
    os_["os_event"]["censor_values"] = ["Alive", "Lost"]
    expect(lambda: run(table(), **os_), "'Lost'", "os_event.censor_values matches no sample")


@pytest.mark.bad_input
def test_event_values_without_censor_list_stop_on_the_other_values():
    os_ = copy.deepcopy(OS)
    del os_["os_event"]["censor_values"]
    expect(lambda: run(table(), **os_), "'Alive' (15)", "censor_values")


@pytest.mark.bad_input
def test_value_declared_as_event_and_censored_stops():
    os_ = copy.deepcopy(OS)
    os_["os_event"]["censor_values"] = ["Alive", "dead"]
    expect(lambda: run(table(), **os_), "declared twice", "keep each value in one list")


@pytest.mark.bad_input
def test_unparseable_survival_time_stops_listing_cells():
    raw = table(days=["56 days"] + [30.0] * 58 + ["2 months"])
    expect(lambda: run(raw, **OS), "column 'days'", "2 value(s) that are not numbers",
           "sample 'P000': '56 days'", "sample 'P059': '2 months'", "plain numbers")


@pytest.mark.bad_input
def test_all_times_unparseable_says_so_not_empty():
    raw = table(days=[f"{i} days" for i in range(60)])
    err = expect(lambda: run(raw, **OS), "60 value(s) that are not numbers",
                 "every non-missing cell")
    assert "is empty" not in str(err)


@pytest.mark.bad_input
def test_infinite_time_stops():
    expect(lambda: run(table(days=[np.inf] + [30.0] * 59), **OS), "not numbers", "'inf'")


@pytest.mark.bad_input
def test_negative_time_stops_listing_samples():
    expect(lambda: run(table(days=[-3.0, -1.0] + [30.0] * 58), **OS),
           "negative survival time for sample 'P000'", "2 negative", "correct or remove")


@pytest.mark.bad_input
def test_empty_time_column_is_named():
    expect(lambda: run(table(days=["NA"] * 60), **OS), "no sample has overall survival time")


@pytest.mark.bad_input
def test_undeclared_response_label_stops():
    raw = table(resp=(["CR", "PR", "SD", "PD", "NE", "MR"] * 10))
    expect(lambda: run(raw, response=RESPONSE), "'MR' (10)", "cohorts.c1.clinical.response",
           "responder_values, non_responder_values or exclude_values")


@pytest.mark.bad_input
def test_responder_value_matching_nothing_stops():
    raw = table(resp=(["PR", "SD", "PD"] * 20))
    resp = dict(RESPONSE, exclude_values=[])
    expect(lambda: run(raw, response=resp), "value 'CR'",
           "response.responder_values matches no sample", "'PR' 20, 'SD' 20, 'PD' 20")


@pytest.mark.bad_input
def test_response_arm_absent_from_data_stops_with_observed_arms():
    expect(lambda: run(table(), response=dict(RESPONSE, arm="Lenvatinib"),
                       arm={"column": "arm", "exclude_values": ["sorafenib", "placebo"]}),
           "value 'Lenvatinib'", "response.arm matches no sample",
           "this arm does not exist in the data",
           "'sorafenib' 30, 'Placebo' 30")


@pytest.mark.bad_input
def test_control_arm_absent_from_data_stops():
    expect(lambda: run(table(), response=dict(RESPONSE, arm="sorafenib", control_arm="Plac"),
                       arm={"column": "arm"}),
           "value 'Plac'", "response.control_arm matches no sample", "'Placebo' 30")


@pytest.mark.bad_input
def test_undeclared_arm_stops():
    raw = table(arm=(["sorafenib", "placebo", "lenvatinib"] * 20))
    expect(lambda: run(raw, response=dict(RESPONSE, arm="sorafenib", control_arm="placebo"),
                       arm={"column": "arm"}),
           "'lenvatinib' (20)", "arm.exclude_values")


@pytest.mark.bad_input
def test_response_arm_without_arm_mapping_stops_in_prepare():
    expect(lambda: run(table(), response=dict(RESPONSE, arm="sorafenib")),
           "no `arm:` mapping", "cohorts.c1.clinical.arm")


@pytest.mark.bad_input
def test_duplicated_sample_ids_in_clinical_stop():
    raw = table(id=["P1", "P1", "P2", "P2", "P2"] + [f"Q{i}" for i in range(55)])
    expect(lambda: run(raw, **OS), "sample id 'P2' appears more than once",
           "2 duplicated id(s)", "P1 x2", "one row per sample")


@pytest.mark.bad_input
def test_empty_sample_id_stops():
    raw = table(id=["NA"] + [f"Q{i}" for i in range(59)])
    expect(lambda: run(raw, **OS), "1 row(s) have no sample id")


@pytest.mark.bad_input
def test_missing_event_column_names_the_key():
    os_ = copy.deepcopy(OS)
    os_["os_event"]["column"] = "vital"
    expect(lambda: run(table(), **os_), "column 'vital'", "cohorts.c1.clinical.os_event.column")


# ------------------------------------------------------------------- samples.keep (GEO)

def series(tissues: list[str]) -> geo.SeriesMatrix:
    gsm = [f"GSM{i}" for i in range(len(tissues))]
    samples = pd.DataFrame({"tissue": tissues}, index=pd.Index(gsm, name="geo_accession"))
    return geo.SeriesMatrix(pd.DataFrame(np.ones((2, len(gsm))), columns=gsm), samples, [])


def test_samples_keep_counts_kept_excluded_missing():
    sm = series(["Tumor"] * 5 + ["Non-Tumor"] * 3 + [np.nan])
    counts: dict[str, int] = {}
    kept = geo.select_samples(sm, {"characteristic": "Tissue", "values": ["tumor"],
                                   "exclude_values": ["non-tumor"]}, "m.txt", counts)
    assert len(kept) == 5 and counts == {"kept": 5, "excluded": 3, "missing": 1}


@pytest.mark.bad_input
def test_samples_keep_value_matching_nothing_stops():
    sm = series(["Tumor"] * 5 + ["Non-Tumor"] * 3)
    expect(lambda: geo.select_samples(sm, {"characteristic": "tissue", "values": ["HCC"],
                                           "exclude_values": ["Tumor", "Non-Tumor"]}, "m.txt"),
           "value 'HCC'", "samples.keep.values", "'Tumor' 5, 'Non-Tumor' 3")


@pytest.mark.bad_input
def test_samples_keep_undeclared_value_stops():
    sm = series(["Tumor"] * 5 + ["Non-Tumor"] * 3 + ["Normal"] * 2)
    expect(lambda: geo.select_samples(sm, {"characteristic": "tissue", "values": ["Tumor"],
                                           "exclude_values": ["Non-Tumor"]}, "m.txt"),
           "'Normal' (2)", "samples.keep.exclude_values")


# ------------------------------------------------------------------------ config checks

@pytest.fixture()
def cfg():
    return demo_config()


def check(cfg):
    return validate_config(cfg, schema_dir=SCHEMAS, base_dir=REPO)


@pytest.mark.bad_input
def test_config_response_arm_without_arm_mapping(cfg):
    del cfg["cohorts"]["demo"]["clinical"]["arm"]
    expect(lambda: check(cfg), "response.arm is 'sorafenib'", "cohorts.demo.clinical.arm",
           "add cohorts.demo.clinical.arm")


@pytest.mark.bad_input
def test_config_control_arm_without_arm(cfg):
    del cfg["cohorts"]["demo"]["clinical"]["response"]["arm"]
    expect(lambda: check(cfg), "control_arm is set without response.arm")


@pytest.mark.bad_input
def test_config_cohort_with_no_outcome(cfg):
    clin = cfg["cohorts"]["demo_validation"]["clinical"]
    del clin["os_time"], clin["os_event"]
    expect(lambda: check(cfg), "the cohort has no outcome",
           "cohorts.demo_validation.clinical", "os_time + os_event")


@pytest.mark.bad_input
def test_config_endpoint_mapped_in_no_cohort(cfg):
    cfg["survival"]["endpoints"] = ["os", "rfs"]
    expect(lambda: check(cfg), "endpoint 'rfs'", "survival.endpoints", "no cohort maps it")


@pytest.mark.bad_input
def test_config_event_without_censor_values(cfg):
    del cfg["cohorts"]["demo"]["clinical"]["os_event"]["censor_values"]
    expect(lambda: check(cfg), "censor_values", "cohorts.demo.clinical.os_event")


def test_config_endpoint_missing_in_one_cohort_is_allowed(cfg):
    """Reported in the report's cohort section instead (see test_clinical_blocks)."""
    cfg["survival"]["endpoints"] = ["os", "rfs"]
    cfg["cohorts"]["demo"]["clinical"]["rfs_time"] = {"column": "os_days", "unit": "days"}
    cfg["cohorts"]["demo"]["clinical"]["rfs_event"] = copy.deepcopy(
        cfg["cohorts"]["demo"]["clinical"]["os_event"])
    assert check(cfg)["survival"]["endpoints"] == ["os", "rfs"]


# ---------------------------------------------------------------- through the workflow

@pytest.mark.slow
@pytest.mark.bad_input
def test_deceased_beside_dead_stops_the_workflow_before_results(tmp_path):
    def deceased(cohort):
        clin = cohort.clinical
        dead = clin.index[clin["vital_status"] == "Dead"][:15]
        clin.loc[dead, "vital_status"] = "Deceased"

    cfg = yaml.safe_load(local_cohort_config(tmp_path, mutate=deceased))
    cfg["scoring"]["methods"] = ["mean_z"]
    wd = make_workdir(tmp_path, yaml.safe_dump(cfg))
    res = run_snakemake(wd, "results/local/prepared.h5ad")
    assert res.returncode != 0
    log = (wd / "logs" / "prepare" / "local.log").read_text()
    assert "'Deceased' (15)" in log and "cohorts.local.clinical.os_event" in log
    assert "Fix:" in log and "censor_values" in log
    assert not (wd / "results" / "local" / "prepared.h5ad").exists()
    assert not (wd / "results" / "local" / "clinical.tsv").exists()


@pytest.mark.bad_input
def test_response_arm_without_arm_mapping_stops_snakemake_before_any_job(tmp_path, cfg):
    """Was a raw KeyError 'arm' in a job; now one config error at parse time."""
    del cfg["cohorts"]["demo"]["clinical"]["arm"]
    wd = make_workdir(tmp_path, yaml.safe_dump(cfg))
    res = run_snakemake(wd, "-n")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "cohorts.demo.clinical.arm" in out and "response.arm is 'sorafenib'" in out
    assert "Fix:" in out and "KeyError" not in out and not (wd / "results").exists()


# --- file formats of a clinical table (issue 21): delimiter and Excel workbooks -------------

def _files_before(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.bad_input
def test_semicolon_separated_clinical_table_names_the_delimiter(tmp_path):
    """A .csv exported with semicolons used to stop on "column 'id' ... is not in the table"
    without the cause; the message now names the delimiter and how to re-export."""
    from ferroscope.io import read_table

    path = tmp_path / "clinical.csv"
    table().to_csv(path, sep=";", index=False)
    before = _files_before(tmp_path)
    with pytest.raises(FerroscopeError) as err:
        read_table(path, what="clinical table of cohort x", field="cohorts.x.clinical_table")
    msg = str(err.value)
    assert "one column on commas (the delimiter of a .csv file) but 5 columns on semicolons" \
        in msg and str(path) in msg and "field 'cohorts.x.clinical_table'" in msg
    assert "Fix: re-export it tab-separated (.tsv) or comma-separated (.csv)" in msg
    assert _files_before(tmp_path) == before


@pytest.mark.bad_input
def test_excel_clinical_table_is_read_with_the_same_checks(tmp_path):
    """A clinical .xlsx (used to stop with "not UTF-8 ... iconv") is read: first sheet or the
    one named, giving the same standard table as the same data as TSV; the sheet read is
    recorded; a repeated column name in the header row still stops."""
    from ferroscope.io import read_table

    df = table()
    df.loc[3, "days"] = np.nan                     # an empty cell stays missing
    df.to_csv(tmp_path / "clinical.tsv", sep="\t", index=False)
    with pd.ExcelWriter(tmp_path / "clinical.xlsx") as xl:
        pd.DataFrame({"note": ["read me first"]}).to_excel(xl, sheet_name="README", index=False)
        df.to_excel(xl, sheet_name="patients", index=False)
    mapping = {"sample_id": "id", **OS, "response": RESPONSE}
    text = read_table(tmp_path / "clinical.tsv", what="t")
    book = read_table(tmp_path / "clinical.xlsx", what="t", sheet="patients")
    assert book.attrs["workbook"] == "sheet 'patients' (2 of 2) of the workbook"
    pd.testing.assert_frame_equal(book, text)
    pd.testing.assert_frame_equal(
        standardise_clinical(book, mapping, source="x.xlsx", cohort="x"),
        standardise_clinical(text, mapping, source="x.tsv", cohort="x"))
    assert "note" in read_table(tmp_path / "clinical.xlsx", what="t").columns  # first sheet
    with pytest.raises(FerroscopeError, match=r"sheet 'pts' is not in the workbook \(sheets: "
                                              r"'README', 'patients'\)"):
        read_table(tmp_path / "clinical.xlsx", what="t", sheet="pts")
    dup = df.rename(columns={"resp": "days"})
    dup.to_excel(tmp_path / "dup.xlsx", index=False)
    with pytest.raises(FerroscopeError, match="'days' appears twice"):
        read_table(tmp_path / "dup.xlsx", what="t")


def test_workbooks_that_are_not_read_are_named_with_the_fix(tmp_path):
    from ferroscope.io import read_table
    from ferroscope.prepare import read_expression

    old = tmp_path / "clinical.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 512)      # an OLE2 (.xls) file
    with pytest.raises(FerroscopeError, match="old Excel .xls workbook.*Fix: open it in Excel"):
        read_table(old, what="clinical table")
    table().to_excel(tmp_path / "expr.xlsx", index=False)
    with pytest.raises(FerroscopeError, match="is an Excel workbook.*Fix: export the sheet as "
                                              "tab-separated text"):
        read_expression(str(tmp_path / "expr.xlsx"))
    # a workbook renamed .tsv is recognised by its content
    (tmp_path / "expr.xlsx").rename(tmp_path / "clin.tsv")
    assert list(read_table(tmp_path / "clin.tsv", what="t").columns) == list(table().columns)
