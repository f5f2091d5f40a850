"""Prepare: alias harmonisation, duplicate collapse, scale detection, clinical mapping errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferroscope.errors import FerroscopeError
from ferroscope.prepare import build_anndata, harmonise_expression, standardise_clinical

MAPPING = {
    "sample_id": "id",
    "os_time": {"column": "days", "unit": "days"},
    "os_event": {"column": "status", "event_values": ["Dead"], "censor_values": ["Alive"]},
    "response": {"column": "resp", "responder_values": ["PR"],
                 "non_responder_values": ["PD"], "exclude_values": ["NE"]},
}


def clinical(**over):
    df = pd.DataFrame({"id": ["a", "b", "c"], "days": [30.4375, 365.25, 0.0],
                       "status": ["Dead", "Alive", "dead"], "resp": ["PR", "PD", "NE"]})
    for k, v in over.items():
        df[k] = v
    return df


def test_names_kept_duplicates_and_log2_detection():
    raw = pd.DataFrame([[100.0, 300.0], [10.0, 11.0], [1.0, 900.0], [5.0, 5.0], [7.0, 7.0]],
                       index=["FSP1", "GPX4", "GPX4", "", "NRF2"], columns=["a", "b"])
    expr, notes = harmonise_expression(raw)
    assert notes.log_transformed and notes.scale_detected.startswith("linear")
    assert notes.scale == "linear"
    # matrix rows keep their own names: aliases map set members to rows, never the reverse
    assert list(expr.index) == ["FSP1", "GPX4", "NRF2"]
    # the most variable GPX4 row (1, 900) is kept
    np.testing.assert_allclose(expr.loc["GPX4"], np.log2([2.0, 901.0]))
    assert notes.duplicates_collapsed == 1 and notes.empty_names_dropped == 1
    assert notes.duplicated_genes == ["GPX4"]


def test_log_scale_is_left_alone():
    raw = pd.DataFrame([[7.0, 8.5], [3.0, 12.0]], index=["A", "B"], columns=["a", "b"])
    expr, notes = harmonise_expression(raw)
    assert not notes.log_transformed
    pd.testing.assert_frame_equal(expr, raw.rename_axis("gene"))


@pytest.mark.bad_input
def test_duplicated_sample_column_is_named():
    raw = pd.DataFrame([[1.0, 2.0]], index=["A"], columns=["s1", "s1"])
    with pytest.raises(FerroscopeError, match="sample id 's1' appears twice"):
        harmonise_expression(raw, source="m.tsv")


def test_clinical_standardised_to_months_and_codes():
    out = standardise_clinical(clinical(), MAPPING, source="c.tsv", cohort="x")
    np.testing.assert_allclose(out["os_time_months"], [1.0, 12.0, 0.0])
    assert out["os_event"].tolist() == [1.0, 0.0, 1.0]   # case-insensitive match of "Dead"
    assert out["response"].tolist()[:2] == [1.0, 0.0] and np.isnan(out["response"][2])


@pytest.mark.bad_input
def test_missing_clinical_column_names_the_mapping_key():
    with pytest.raises(FerroscopeError, match=r"'days'.*cohorts\.x\.clinical\.os_time\.column"):
        standardise_clinical(clinical().drop(columns="days"), MAPPING, source="c.tsv",
                             cohort="x")


@pytest.mark.bad_input
def test_negative_survival_time_is_named():
    with pytest.raises(FerroscopeError, match="negative survival time for sample 'b'"):
        standardise_clinical(clinical(days=[1.0, -5.0, 3.0]), MAPPING, source="c.tsv",
                             cohort="x")


@pytest.mark.bad_input
def test_duplicated_clinical_sample_is_named():
    with pytest.raises(FerroscopeError, match="sample id 'a' appears more than once"):
        standardise_clinical(clinical(id=["a", "a", "c"]), MAPPING, source="c.tsv", cohort="x")


@pytest.mark.bad_input
def test_event_values_that_match_nothing_are_named():
    mapping = dict(MAPPING, os_event={"column": "status", "event_values": ["deceased"],
                                      "censor_values": ["Alive"]})
    with pytest.raises(FerroscopeError, match="event_values matches no sample.*'Dead' 1"):
        standardise_clinical(clinical(), mapping, source="c.tsv", cohort="x")


@pytest.mark.bad_input
def test_no_shared_sample_ids_is_named():
    expr = pd.DataFrame([[1.0, 2.0]], index=["A"], columns=["s1", "s2"])
    clin = standardise_clinical(clinical(), MAPPING, source="c.tsv", cohort="x")
    from ferroscope.prepare import PrepareNotes
    with pytest.raises(FerroscopeError, match="clinical.sample_id"):
        build_anndata(expr, clin, PrepareNotes(), cohort="x", source="c.tsv", provenance={})


def test_numeric_event_codes_match_float_columns():
    """A 0/1 column with a missing value is read as 0.0/1.0; event_values [1] must still match."""
    raw = pd.DataFrame({"id": ["a", "b", "c"], "days": [10.0, 20.0, 30.0],
                        "status": [1.0, 0.0, np.nan], "resp": ["PR", "PD", "NE"]})
    mapping = dict(MAPPING, os_event={"column": "status", "event_values": [1],
                                      "censor_values": [0]})
    out = standardise_clinical(raw, mapping, source="c.tsv", cohort="x")
    assert out["os_event"].tolist()[:2] == [1.0, 0.0] and np.isnan(out["os_event"][2])


# --- missing values, scales, Excel-mangled names ------------------------------------------

def _matrix_with_missing(rng, n_genes=50, n_samples=40):
    x = rng.normal(8.0, 1.0, size=(n_genes, n_samples))
    genes = [f"G{i}" for i in range(n_genes)]
    df = pd.DataFrame(x, index=genes, columns=[f"s{j}" for j in range(n_samples)])
    df.iloc[0, :] = np.nan                       # all missing
    df.iloc[1, :31] = np.nan                     # 77.5% missing
    df.iloc[2, :8] = np.nan                      # 20% missing: kept at max_fraction 0.2
    df.iloc[3, :9] = np.nan                      # 22.5%: dropped
    df.iloc[4, [3, 17]] = np.nan                 # 5%: kept
    return df


def test_missing_policy_drops_genes_over_max_fraction_and_keeps_nan_cells():
    df = _matrix_with_missing(np.random.default_rng(3))
    expr, notes = harmonise_expression(df, missing={"max_fraction": 0.2}, source="in.tsv")
    assert notes.missing_genes_dropped == {"G0": 1.0, "G1": 0.775, "G3": 0.225}
    assert notes.missing_cells_input == 40 + 31 + 8 + 9 + 2
    assert notes.missing_cells_dropped == 40 + 31 + 9
    assert notes.missing_cells_kept == 10 and notes.missing_genes_kept == 2
    assert "G2" in expr.index and "G1" not in expr.index and len(expr) == 47
    assert int(expr.isna().to_numpy().sum()) == 10     # left for the scoring methods' policy
    # a stricter policy drops every gene with a missing cell
    expr0, notes0 = harmonise_expression(df, missing={"max_fraction": 0.0})
    assert len(expr0) == 45 and not expr0.isna().to_numpy().any()
    # the most lenient still drops the all-missing gene
    expr1, notes1 = harmonise_expression(df, missing={"max_fraction": 1.0})
    assert list(notes1.missing_genes_dropped) == ["G0"] and len(expr1) == 49


def test_missing_policy_note_names_file_counts_and_key(caplog):
    df = _matrix_with_missing(np.random.default_rng(3))
    harmonise_expression(df, missing={"max_fraction": 0.2}, source="data/in.tsv",
                         missing_key="cohorts.x.missing")
    text = caplog.text
    assert "data/in.tsv" in text and "90 missing cells" in text and "3 genes" in text
    assert "cohorts.x.missing.max_fraction" in text


@pytest.mark.bad_input
def test_every_gene_dropped_for_missingness_stops_with_the_key():
    df = pd.DataFrame([[1.0, np.nan, 2.0], [np.nan, 3.0, 4.0]], index=["A", "B"],
                      columns=["s1", "s2", "s3"])
    with pytest.raises(FerroscopeError, match=r"cohorts\.x\.missing\.max_fraction") as exc:
        harmonise_expression(df, missing={"max_fraction": 0.1}, source="in.tsv",
                             missing_key="cohorts.x.missing")
    assert "in.tsv" in str(exc.value) and "Fix: raise" in str(exc.value)


@pytest.mark.bad_input
def test_infinite_values_are_listed_with_gene_and_sample():
    df = pd.DataFrame([[1.0, 2.0], [np.inf, 3.0], [4.0, -np.inf]], index=["A", "B", "C"],
                      columns=["s1", "s2"])
    with pytest.raises(FerroscopeError, match=r"2 infinite.*'B'.*'s1'") as exc:
        harmonise_expression(df, source="in.tsv")
    assert "Fix:" in str(exc.value) and "in.tsv" in str(exc.value)


@pytest.mark.bad_input
def test_all_missing_matrix_is_named():
    df = pd.DataFrame(np.nan, index=["A", "B"], columns=["s1", "s2"])
    with pytest.raises(FerroscopeError, match="no finite values") as exc:
        harmonise_expression(df, source="in.tsv")
    assert "in.tsv" in str(exc.value) and "Fix:" in str(exc.value)


def _ratios(rng, n_genes=400, n_samples=81):
    return pd.DataFrame(rng.normal(0.0, 1.2, size=(n_genes, n_samples)),
                        index=[f"G{i}" for i in range(n_genes)],
                        columns=[f"p{j}" for j in range(n_samples)])


def test_auto_recognises_centred_log_ratios_and_says_what_a_score_means():
    raw = _ratios(np.random.default_rng(5))
    raw.iloc[0, 0] = -12.0  # deep ratios are legitimate on this scale
    expr, notes = harmonise_expression(raw, scale="auto", source="r.tsv")
    assert notes.scale == "log_ratio" and not notes.log_transformed
    assert "centred log ratios" in notes.scale_detected and "log2" not in notes.scale_detected
    assert "own" in notes.score_meaning and "reference" in notes.score_meaning
    pd.testing.assert_frame_equal(expr, raw.rename_axis("gene"))


def test_declared_log_ratio_is_kept_and_log2_still_detected():
    raw = _ratios(np.random.default_rng(6))
    _, notes = harmonise_expression(raw, scale="log_ratio")
    assert notes.scale == "log_ratio" and notes.scale_detected.startswith("log_ratio (from")
    log2 = pd.DataFrame(np.random.default_rng(7).normal(7.0, 2.0, size=(300, 20)))
    log2.index = [f"G{i}" for i in range(300)]
    _, n2 = harmonise_expression(log2)
    assert n2.scale == "log2" and "higher or lower" in n2.score_meaning


@pytest.mark.bad_input
def test_log_ratio_declared_on_linear_data_stops():
    raw = pd.DataFrame(np.random.default_rng(8).uniform(0, 5000, size=(100, 10)),
                       index=[f"G{i}" for i in range(100)])
    with pytest.raises(FerroscopeError, match="declared log_ratio but looks linear") as exc:
        harmonise_expression(raw, scale="log_ratio", source="r.tsv")
    assert "expression_scale" in str(exc.value) and "Fix:" in str(exc.value)


@pytest.mark.bad_input
def test_negative_values_declared_linear_suggest_log_ratio():
    raw = _ratios(np.random.default_rng(9))
    with pytest.raises(FerroscopeError, match="negative values") as exc:
        harmonise_expression(raw, scale="linear", source="r.tsv")
    assert "log_ratio" in str(exc.value)


def test_excel_mangled_names_are_listed():
    from ferroscope.prepare import excel_mangled
    names = ["GPX4", "1-Mar", "9-Sep", "2-Sep", "40432", "SEPT9", "1-Dec", "Mar-1",
             "2006-03-01", "C8orf76", "NQO1", "FTH1"]
    assert excel_mangled(names) == ["1-Mar", "9-Sep", "2-Sep", "40432", "1-Dec", "Mar-1",
                                    "2006-03-01"]
    raw = pd.DataFrame(np.arange(8.0).reshape(4, 2) + 1, index=["GPX4", "1-Mar", "40432", "A"],
                       columns=["s1", "s2"])
    _, notes = harmonise_expression(raw)
    assert notes.excel_mangled == ["1-Mar", "40432"]
    # numbers outside Excel's date serials, and a matrix named by Entrez ids, are not mangled
    assert excel_mangled(["GPX4", "12345", "7"]) == []
    assert excel_mangled(["54205", "40432", "7157", "2876"]) == []


def test_report_cohort_table_states_scale_meaning_and_missing_counts():
    from ferroscope.report import CohortData, cohort_summary

    df = _matrix_with_missing(np.random.default_rng(3)) - 8.0   # centred: log ratios
    _, notes = harmonise_expression(df, scale="log_ratio", missing={"max_fraction": 0.2})
    clin = pd.DataFrame({"os_time_months": [1.0, 2.0], "os_event": [1.0, 0.0]},
                        index=pd.Index(["a", "b"], name="sample_id"))
    row = cohort_summary(CohortData("x", clin, pd.DataFrame(), {},
                                    prepare_notes=notes.as_dict()))
    assert row["scale"] == "log_ratio" and "own" in row["score_meaning"]
    assert row["missing"].startswith("3 genes dropped (missing in > 20% of samples)")
    assert "10 missing cells left in 2 genes" in row["missing"]


@pytest.mark.slow
@pytest.mark.bad_input
def test_duplicated_sample_column_stops_the_workflow_naming_the_input(tmp_path):
    """Through snakemake: the raw header's repeated DEMO-0001 (pandas would read the copy as
    'DEMO-0001.1', a 61st patient) stops prepare, naming the file and the fix; nothing is
    written under results/."""
    from .conftest import local_cohort_config, make_workdir, run_snakemake

    def duplicate(cohort):
        cohort.expression.insert(cohort.expression.shape[1], "DEMO-0001",
                                 cohort.expression["DEMO-0001"].to_numpy(),
                                 allow_duplicates=True)

    wd = make_workdir(tmp_path, local_cohort_config(tmp_path, mutate=duplicate))
    res = run_snakemake(wd, "results/local/prepared.h5ad")
    assert res.returncode != 0
    log = (wd / "logs" / "prepare" / "local.log").read_text()
    assert "data/expr.tsv.gz" in log and "'DEMO-0001' appears twice" in log
    assert "Fix: give every column a unique name" in log
    assert not [p for p in (wd / "results").rglob("*") if p.is_file()] \
        if (wd / "results").exists() else True


def _log2_matrix(rng, genes=30, samples=8):
    return pd.DataFrame(rng.normal(8.0, 1.5, (genes, samples)),
                        index=[f"G{i}" for i in range(genes)],
                        columns=[f"P{j:03d}" for j in range(samples)])


@pytest.mark.bad_input
def test_impossible_value_on_the_declared_scale_stops():
    """Issue 21: one cell of 1e300 in a matrix declared log2 used to run (and move a hazard
    ratio); 2^30 is a billion-fold intensity, so the run stops naming the cell and the fix."""
    raw = _log2_matrix(np.random.default_rng(1))
    raw.loc["G7", "P003"] = 1e300
    with pytest.raises(FerroscopeError) as err:
        harmonise_expression(raw, scale="log2", source="expr.tsv", cohort="mine")
    msg = str(err.value)
    assert "1 value(s) lie outside the plausible range of the log2 scale (declared" in msg
    assert "-30 to 30" in msg and "(gene 'G7', sample 'P003': 1e+300)" in msg
    assert "expr.tsv" in msg and "field 'cohorts.mine.expression_scale'" in msg
    fix = msg.split("Fix:", 1)[1]
    assert "set cohorts.mine.expression_scale" in fix and "corrupted" in fix
    assert "cohorts.mine.expression_limits" in fix


def test_plausible_ranges_per_scale_detected_or_declared_and_limits_with_a_reason():
    rng = np.random.default_rng(2)
    # detected log2 (one huge cell leaves the 99th percentile alone): stops, saying "detected"
    raw = _log2_matrix(rng)
    raw.iloc[0, 0] = 1e300
    with pytest.raises(FerroscopeError, match=r"log2 scale \(detected: 99th percentile"):
        harmonise_expression(raw)
    # a -9999 sentinel on the log2 scale is below the floor
    raw = _log2_matrix(rng)
    raw.iloc[2, 1] = -9999.0
    with pytest.raises(FerroscopeError, match=r"gene 'G2', sample 'P001': -9999"):
        harmonise_expression(raw, scale="log2")
    # linear: above 2^30 stops (after log2(x + 1) that is more than 30)
    lin = 2.0 ** _log2_matrix(rng)
    lin.iloc[1, 1] = 2.0e9
    with pytest.raises(FerroscopeError, match=r"linear scale .*0 to 1\.07374e\+09"):
        harmonise_expression(lin, scale="linear")
    # log_ratio: a 2^25-fold change is implausible
    ratio = _log2_matrix(rng) - 8.0
    ratio.iloc[3, 2] = 25.0
    with pytest.raises(FerroscopeError, match=r"log_ratio scale .*-20 to 20.*: 25\)"):
        harmonise_expression(ratio, scale="log_ratio")
    # the edges are allowed; a wider limit (given with a reason) lets a value through, noted
    ok = _log2_matrix(rng)
    ok.iloc[0, 0], ok.iloc[1, 0] = 30.0, -30.0
    _, notes = harmonise_expression(ok, scale="log2")
    assert notes.plausible_range == "-30 to 30 (log2 default)"
    ok.iloc[0, 0] = 35.0
    limits = {"max": 40, "reason": "spike-in controls at 2^35"}
    expr, notes = harmonise_expression(ok, scale="log2", limits=limits)
    assert expr.iloc[0, 0] == 35.0
    assert notes.plausible_range == "-30 to 40 (expression_limits: spike-in controls at 2^35)"


def _id_case(expr_ids, clin_ids):
    rng = np.random.default_rng(4)
    expr = pd.DataFrame(rng.normal(8, 1, (3, len(expr_ids))), index=["A", "B", "C"],
                        columns=expr_ids)
    clin = pd.DataFrame({"id": clin_ids, "days": np.arange(len(clin_ids)) * 100.0 + 50,
                         "status": ["Dead", "Alive"] * (len(clin_ids) // 2) + ["Dead"]
                         * (len(clin_ids) % 2)})
    mapping = {k: MAPPING[k] for k in ("sample_id", "os_time", "os_event")}
    return expr, standardise_clinical(clin, mapping, source="c.tsv", cohort="x")


@pytest.mark.bad_input
def test_matrix_ids_with_surrounding_whitespace_are_stripped_and_said(caplog):
    """Issue 21: "P001 " in the matrix header lost its outcome; now stripped (as clinical ids
    are), said in the log and the notes, and the clinical rows without a matrix column are
    counted beside the matrix columns without a clinical row."""
    ids = ["P000", "P001", "P002", "P003"]
    expr, clin = _id_case([i + " " if n % 2 else i for n, i in enumerate(ids)], ids + ["P009"])
    out, notes = harmonise_expression(expr, scale="log2", source="expr.tsv")
    assert notes.sample_ids_stripped == ["P001 ", "P003 "]
    assert "surrounding whitespace stripped from 2 sample id(s)" in caplog.text
    adata = build_anndata(out, clin, notes, cohort="x", source="c.tsv", provenance={})
    assert list(adata.obs_names) == ids
    clean = clin.set_index("sample_id").loc[ids, "os_time_months"].to_numpy()
    np.testing.assert_array_equal(adata.obs["os_time_months"].to_numpy(), clean)
    assert notes.samples_without_clinical == [] and notes.clinical_without_expression == 1


@pytest.mark.bad_input
def test_ids_that_match_only_after_case_folding_are_listed_with_the_rule():
    expr, clin = _id_case(["p000", "P001", "p002"], ["P000", "P001", "P002"])
    out, notes = harmonise_expression(expr, scale="log2")
    with pytest.raises(FerroscopeError) as err:
        build_anndata(out, clin, notes, cohort="x", source="c.tsv", provenance={})
    msg = str(err.value)
    assert "2 matrix column(s) have no clinical row but would match one after case folding: " \
           "'p000' ~ 'P000', 'p002' ~ 'P002' (1 ids match exactly" in msg
    assert "field 'cohorts.x.clinical.sample_id'" in msg and "Fix: write the ids" in msg


def test_near_matches_by_prefix_or_suffix_name_the_affix():
    from ferroscope.prepare import near_matches

    assert near_matches(["GSM1_P1", "GSM1_P2"], ["P1", "P2", "P3"]) == (
        "after removing the prefix 'GSM1_' of the matrix ids",
        [("GSM1_P1", "P1"), ("GSM1_P2", "P2")])
    assert near_matches(["P1", "P2"], ["P1.CEL", "P2.CEL"]) == (
        "after removing the suffix '.CEL' of the clinical ids", [("P1", "P1.CEL"),
                                                                ("P2", "P2.CEL")])
    assert near_matches(["X1"], ["Y2"]) is None and near_matches([], ["a"]) is None


def test_prepared_uns_is_written_and_read_through_one_dataclass(tmp_path):
    """The h5ad `uns` contract (issue 20): build_anndata writes every field of PreparedUns,
    read back equal from the file; absent optional fields default, required ones are named."""
    from ferroscope.checks import read_h5ad
    from ferroscope.prepare import write_h5ad
    from ferroscope.uns import PreparedUns

    expr, clin = _id_case(["P000", "P001"], ["P000", "P001"])
    out, notes = harmonise_expression(expr, scale="log2")
    mapping = [{"mapping": "os_event", "column": "status", "kept": 2, "dropped": 0}]
    adata = build_anndata(out, clin, notes, cohort="x", source="c.tsv",
                          provenance={"inputs": []}, clinical_mapping=mapping,
                          description="d <b>", platform="GPL1")
    write_h5ad(adata, str(tmp_path / "p.h5ad"))
    back = PreparedUns.read(read_h5ad(tmp_path / "p.h5ad").uns)
    assert back == PreparedUns("x", notes.as_dict(), {"inputs": []}, mapping, "d <b>", "GPL1")
    core = {"cohort": "y", "prepare": "{}", "provenance": "{}"}
    assert PreparedUns.read(core) == PreparedUns("y", {}, {})
    assert PreparedUns.missing({"cohort": "y"}) == ["prepare", "provenance"]
