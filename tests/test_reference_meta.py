"""Random-effects pooling against R metafor 3.8 (Debian r-cran-metafor).

``rma(yi, sei = sei, method = "REML", test = "knha")`` and ``rma(..., method = "DL")`` with
``predict()`` for the prediction interval. The live test (``slow``) runs R, compares and
rewrites ``tests/golden/meta.json``; the fast lane compares against that file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ferroscope.meta import DL, REML_HKSJ, pool
from ferroscope.statistics import FEW_COHORTS, meta_analyse

from .rref import run_r

GOLDEN = Path(__file__).with_name("golden") / "meta.json"
FIELDS = ["estimate", "se", "ci_low", "ci_high", "p", "tau2", "i2", "q", "q_p", "pi_low",
          "pi_high"]

R_CODE = """
suppressMessages(library(metafor))
d <- read.csv("groups.csv")
out <- list()
for (m in c("REML", "DL")) {
  rows <- lapply(split(d, d$group), function(g) {
    f <- rma(g$yi, sei = g$sei, method = m, test = if (m == "REML") "knha" else "z")
    pr <- predict(f)
    list(group = g$group[1], estimate = c(f$beta), se = f$se, ci_low = f$ci.lb,
         ci_high = f$ci.ub, p = f$pval, tau2 = f$tau2, i2 = f$I2 / 100, q = f$QE,
         q_p = f$QEp, pi_low = pr$pi.lb, pi_high = pr$pi.ub)
  })
  out[[m]] <- unname(rows)
}
writeLines(jsonlite::toJSON(out, digits = I(17), auto_unbox = TRUE), "r.json")
"""


def groups() -> pd.DataFrame:
    """Hand-picked edge cases (homogeneous, k = 2, tau² = 0) and random log HRs, k 2..10."""
    fixed = [([0.40, 0.55, 0.10, 0.80], [0.10, 0.12, 0.08, 0.15]),
             ([0.40, 0.41, 0.42, 0.39], [0.10, 0.12, 0.08, 0.15]),
             ([0.42, 0.41], [0.06, 0.07]),
             ([0.2, 0.9], [0.1, 0.12]),
             ([0.1, 0.3, 0.25, -0.2, 0.5, 0.6, 0.05], [0.2, 0.1, 0.15, 0.3, 0.12, 0.25, 0.09])]
    rng = np.random.default_rng(19)
    for k in (2, 3, 3, 4, 5, 6, 8, 10):
        sei = rng.uniform(0.05, 0.3, k)
        tau = rng.choice([0.0, 0.1, 0.3])
        fixed.append((list(0.3 + rng.normal(0, tau, k) + rng.normal(0, sei)), list(sei)))
    rows = [{"group": g, "yi": y, "sei": s}
            for g, (ys, ss) in enumerate(fixed) for y, s in zip(ys, ss, strict=True)]
    return pd.DataFrame(rows)


def padded(d: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    k = d.groupby("group").size()
    y = np.full((len(k), k.max()), np.nan)
    s = np.full_like(y, np.nan)
    i = d.groupby("group").cumcount().to_numpy()
    y[d["group"], i], s[d["group"], i] = d["yi"], d["sei"]
    return y, s


def check(want: dict) -> None:
    y, s = padded(groups())
    for method, r_name in ((REML_HKSJ, "REML"), (DL, "DL")):
        got = pool(y, s, method=method)
        ref = pd.DataFrame(want[r_name]).sort_values("group")
        for f in FIELDS:
            np.testing.assert_allclose(getattr(got, f), ref[f].to_numpy(float), rtol=1e-8,
                                       atol=1e-12, err_msg=f"{method} {f}")


@pytest.mark.slow
def test_pool_equals_metafor_and_rewrites_golden(tmp_path):
    groups().to_csv(tmp_path / "groups.csv", index=False)
    run_r(R_CODE, tmp_path, "metafor", "jsonlite")
    want = json.loads((tmp_path / "r.json").read_text())
    check(want)
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(want, indent=1) + "\n")


def test_pool_equals_metafor_golden():
    check(json.loads(GOLDEN.read_text()))


def test_pooled_rows_back_transform_and_flag_two_cohorts():
    """meta_analyse on a results table: exp() of the log-HR pool, AUC tested against 0.5."""
    want = pd.DataFrame(json.loads(GOLDEN.read_text())["REML"]).set_index("group")
    d = groups()
    g0, g3 = d[d["group"] == 0], d[d["group"] == 3]       # k = 4 and k = 2
    surv = pd.DataFrame({"cohort": [f"c{i}" for i in range(len(g0))], "method": "m",
                         "set": "S", "endpoint": "os", "analysis": "cox_hr_per_sd",
                         "status": "ok", "log_hr": g0["yi"].to_numpy(),
                         "se_log_hr": g0["sei"].to_numpy(), "n": 100})
    auc = pd.DataFrame({"cohort": ["a", "b"], "method": "m", "set": "S", "endpoint": "response",
                        "analysis": "auc", "status": "ok", "estimate": 0.5 + g3["yi"].to_numpy(),
                        "se": g3["sei"].to_numpy(), "n": 50})
    out = meta_analyse(pd.concat([surv, auc], ignore_index=True)).set_index("analysis")
    hr, a = out.loc["cox_hr_per_sd"], out.loc["auc"]
    ref0, ref3 = want.loc[0], want.loc[3]
    for col, ref in (("estimate", "estimate"), ("ci_low", "ci_low"), ("ci_high", "ci_high"),
                     ("pi_low", "pi_low"), ("pi_high", "pi_high")):
        assert hr[col] == pytest.approx(np.exp(ref0[ref]), rel=1e-8)
        assert a[col] == pytest.approx(0.5 + ref3[ref], rel=1e-8)
    assert hr["p"] == pytest.approx(ref0["p"], rel=1e-8)
    assert a["p"] == pytest.approx(ref3["p"], rel=1e-8)
    assert hr["meta_method"] == "reml_hksj" and hr["n_cohorts"] == 4 and hr["n"] == 400
    assert FEW_COHORTS in a["note"] and FEW_COHORTS not in hr["note"]


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="reml_hksj"):
        pool(np.array([[0.1, 0.2]]), np.array([[0.1, 0.1]]), method="reml")
