"""Prepare: alias harmonisation, duplicate collapse, scale detection, clinical mapping errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferroscope.errors import FerroscopeError
from ferroscope.genesets import AliasTable
from ferroscope.prepare import build_anndata, harmonise_expression, standardise_clinical

ALIASES = AliasTable({"FSP1": "AIFM2", "NRF2": "NFE2L2"})

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


def test_aliases_duplicates_and_log2_detection():
    raw = pd.DataFrame([[100.0, 300.0], [10.0, 11.0], [1.0, 900.0], [5.0, 5.0], [7.0, 7.0]],
                       index=["FSP1", "GPX4", "GPX4", "", "NRF2"], columns=["a", "b"])
    expr, notes = harmonise_expression(raw, ALIASES)
    assert notes.log_transformed and notes.scale_detected.startswith("linear")
    assert list(expr.index) == ["AIFM2", "GPX4", "NFE2L2"]
    # the most variable GPX4 row (1, 900) is kept
    np.testing.assert_allclose(expr.loc["GPX4"], np.log2([2.0, 901.0]))
    assert notes.duplicates_collapsed == 1 and notes.empty_names_dropped == 1
    assert notes.aliases_applied == {"FSP1": "AIFM2", "NRF2": "NFE2L2"}


def test_log_scale_is_left_alone():
    raw = pd.DataFrame([[7.0, 8.5], [3.0, 12.0]], index=["A", "B"], columns=["a", "b"])
    expr, notes = harmonise_expression(raw, ALIASES)
    assert not notes.log_transformed
    pd.testing.assert_frame_equal(expr, raw.rename_axis("gene"))


def test_duplicated_sample_column_is_named():
    raw = pd.DataFrame([[1.0, 2.0]], index=["A"], columns=["s1", "s1"])
    with pytest.raises(FerroscopeError, match="sample id 's1' appears twice"):
        harmonise_expression(raw, ALIASES, source="m.tsv")


def test_clinical_standardised_to_months_and_codes():
    out = standardise_clinical(clinical(), MAPPING, source="c.tsv", cohort="x")
    np.testing.assert_allclose(out["os_time_months"], [1.0, 12.0, 0.0])
    assert out["os_event"].tolist() == [1.0, 0.0, 1.0]   # case-insensitive match of "Dead"
    assert out["response"].tolist()[:2] == [1.0, 0.0] and np.isnan(out["response"][2])


def test_missing_clinical_column_names_the_mapping_key():
    with pytest.raises(FerroscopeError, match=r"'days'.*cohorts\.x\.clinical\.os_time\.column"):
        standardise_clinical(clinical().drop(columns="days"), MAPPING, source="c.tsv",
                             cohort="x")


def test_negative_survival_time_is_named():
    with pytest.raises(FerroscopeError, match="negative survival time for sample 'b'"):
        standardise_clinical(clinical(days=[1.0, -5.0, 3.0]), MAPPING, source="c.tsv",
                             cohort="x")


def test_duplicated_clinical_sample_is_named():
    with pytest.raises(FerroscopeError, match="sample id 'a' appears more than once"):
        standardise_clinical(clinical(id=["a", "a", "c"]), MAPPING, source="c.tsv", cohort="x")


def test_event_values_that_match_nothing_are_named():
    mapping = dict(MAPPING, os_event={"column": "status", "event_values": ["deceased"],
                                      "censor_values": ["Alive"]})
    with pytest.raises(FerroscopeError, match="event_values matches no sample.*'Dead' 1"):
        standardise_clinical(clinical(), mapping, source="c.tsv", cohort="x")


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
