"""The response arm travels as a rule param; one treated_subset picks the patients for the
response statistics, the report and the figures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ferroscope import report
from ferroscope.response import treated_subset


def clinical():
    return pd.DataFrame({
        "arm": ["sorafenib", "placebo", "sorafenib", np.nan, "sorafenib", "placebo"],
        "response": [1.0, 0.0, np.nan, 1.0, 0.0, 1.0],
    }, index=pd.Index([f"p{i}" for i in range(6)], name="sample_id"))


def test_treated_arm_with_labels():
    assert list(treated_subset(clinical(), "sorafenib").index) == ["p0", "p4"]
    assert list(treated_subset(clinical(), "sorafenib", labelled=False).index) == [
        "p0", "p2", "p4"]


def test_categorical_arms_as_read_from_an_h5ad():
    clin = clinical().assign(arm=lambda d: d["arm"].astype("category"))
    assert list(treated_subset(clin, "sorafenib").index) == ["p0", "p4"]


def test_no_arm_means_every_labelled_patient():
    assert list(treated_subset(clinical(), "").index) == ["p0", "p1", "p3", "p4", "p5"]
    assert len(treated_subset(clinical().drop(columns="arm"), "")) == 5


def test_arm_names_compare_exactly_as_prepare_wrote_them():
    """prepare writes arms as config names them; a differently written arm is not matched."""
    assert treated_subset(clinical(), "Sorafenib").empty
    assert treated_subset(clinical().drop(columns="arm"), "sorafenib").empty


def test_report_uses_the_arm_it_is_given_not_a_clinical_column():
    clin = clinical().assign(response_arm="placebo")  # a stale column must not steer it
    data = report.CohortData(cohort="c", clinical=clin, coverage=pd.DataFrame(), scores={},
                             response_arm="sorafenib")
    scores = pd.DataFrame({"set": np.arange(6.0)}, index=clin.index)
    assert list(report._response_subset(data, scores).index) == ["p0", "p4"]
