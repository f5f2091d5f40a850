"""FDR families of results/statistics.tsv: per method, pooled rows apart, training rows in none."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

from ferroscope.statistics import POOLED, TRAINING, add_fdr


def signature_table() -> pd.DataFrame:
    """A frozen model: its optimistic training row (tiny p) and five validation rows."""
    rows = [{"cohort": "train", "method": "signature", "set": "M", "endpoint": "os",
             "analysis": TRAINING, "role": "training", "p": 2e-23, "status": "ok",
             "note": "training cohort: optimistic (the model was fitted here)"}]
    for i, p in enumerate([0.004, 0.03, 0.2, 0.011, 0.6]):
        rows.append({"cohort": f"v{i}", "method": "signature", "set": "M", "endpoint": "os",
                     "analysis": "cox_hr_per_sd", "role": "validation", "p": p, "status": "ok",
                     "note": ""})
    rows.append({"cohort": POOLED, "method": "signature", "set": "M", "endpoint": "os",
                 "analysis": "cox_hr_per_sd", "p": 0.001, "status": "ok", "note": ""})
    return pd.DataFrame(rows)


def test_validation_q_is_bh_over_validation_rows_only():
    out = add_fdr(signature_table())
    val = out["role"] == "validation"
    want = false_discovery_control(out.loc[val, "p"].to_numpy(), method="bh")
    np.testing.assert_allclose(out.loc[val, "q"], want, rtol=0, atol=0)
    # by hand, 5 rows: 0.004*5/1, 0.03*5/3, 0.2*5/4, 0.011*5/2, 0.6 (with the training row
    # in the family they would be 0.012, 0.045, 0.24, 0.022, 0.6)
    np.testing.assert_allclose(out.loc[val, "q"], [0.02, 0.05, 0.25, 0.0275, 0.6], rtol=1e-12)


def test_training_row_is_shown_with_no_q_and_marked_optimistic():
    out = add_fdr(signature_table())
    train = out[out["analysis"] == TRAINING]
    assert len(train) == 1 and np.isnan(train["q"].iloc[0])
    assert train["p"].iloc[0] == 2e-23 and "optimistic" in train["note"].iloc[0]
    assert out.loc[out["cohort"] == POOLED, "q"].iloc[0] == 0.001   # its own family of one
