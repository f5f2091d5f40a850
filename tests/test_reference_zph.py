"""The PH test against R survival's ``cox.zph`` (Debian r-cran-survival 3.5).

The live tests (``slow``) run R, compare and rewrite ``tests/golden/zph.json``; the fast lane
compares against that file. Data are simulated here from fixed seeds (tied event times, tied
covariate values, a drifting effect so that p spans small and large values).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ferroscope.phtest import GLOBAL, cox_zph, cox_zph_batch
from ferroscope.survival import univariate_cox

from .rref import run_r

GOLDEN = Path(__file__).with_name("golden") / "zph.json"
COVARIATES = {"ties1": ["a"], "ties3": ["a", "b", "c"], "continuous1": ["a"]}
BATCH = ["a", "b", "c", "d", "e"]

R_CODE = """
suppressMessages(library(survival))
ctl <- coxph.control(eps = 1e-14, toler.chol = 1e-15, iter.max = 100)
zph <- function(f) {
  tb <- cox.zph(f, transform = "km", terms = TRUE, global = TRUE)$table
  list(coef = unname(coef(f)), term = rownames(tb), chisq = unname(tb[, "chisq"]),
       df = unname(tb[, "df"]), p = unname(tb[, "p"]))
}
out <- list()
for (name in c("ties1", "ties3", "continuous1")) {
  d <- read.csv(paste0(name, ".csv"))
  covs <- setdiff(names(d), c("time", "event"))
  f <- coxph(as.formula(paste("Surv(time, event) ~", paste(covs, collapse = " + "))),
             data = d, ties = "efron", control = ctl)
  out[[name]] <- zph(f)
}
d <- read.csv("batch.csv")
out$batch <- lapply(setdiff(names(d), c("time", "event")), function(v)
  zph(coxph(as.formula(paste("Surv(time, event) ~", v)), data = d, ties = "efron",
            control = ctl)))
writeLines(jsonlite::toJSON(out, digits = NA, auto_unbox = FALSE), "r.json")
"""


def simulate(name: str) -> pd.DataFrame:
    """Fixed-seed cohorts: time in whole months (ties) except ``continuous1``."""
    seed, n, p = {"ties1": (1, 150, 1), "ties3": (2, 200, 3), "continuous1": (3, 120, 1),
                  "batch": (4, 180, 5)}[name]
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    drift = 1 + 0.8 * (np.arange(n) / n)            # an effect that varies across patients
    lp = x @ np.linspace(0.5, -0.3, p) * drift
    t = rng.exponential(1 / (0.05 * np.exp(lp)))
    c = rng.uniform(6, 60, size=n)
    time = np.minimum(t, c)
    if name != "continuous1":
        time = np.ceil(time)
    d = pd.DataFrame({"time": time, "event": (t <= c).astype(int)})
    cols = BATCH[:p]
    for j, col in enumerate(cols):
        d[col] = np.round(x[:, j], 1) if j == p - 1 and p > 1 else x[:, j]  # tied values
    return d


def check(want: dict) -> None:
    """Every comparison of the module: R's coefficients in, R's table out."""
    for name, covs in COVARIATES.items():
        d, r = simulate(name), want[name]
        got = cox_zph(d["time"], d["event"], d[covs], r["coef"])
        assert list(got.index) == [*covs, GLOBAL] == r["term"]
        np.testing.assert_allclose(got["chisq"], r["chisq"], rtol=1e-9)
        np.testing.assert_allclose(got["p"], r["p"], rtol=1e-9)
        np.testing.assert_array_equal(got["df"], r["df"])
    d = simulate("batch")
    coef = [b["coef"][0] for b in want["batch"]]
    stat, p = cox_zph_batch(d["time"], d["event"], d[BATCH].to_numpy().T, coef)
    np.testing.assert_allclose(stat, [b["chisq"][0] for b in want["batch"]], rtol=1e-9)
    np.testing.assert_allclose(p, [b["p"][0] for b in want["batch"]], rtol=1e-9)


def check_pipeline(want: dict) -> None:
    """``ph_p`` of the survival step (our own Cox fit, then the test) equals R to 1e-6."""
    for name in ("ties1", "continuous1"):
        d = simulate(name).rename(columns={"a": "z"})
        assert univariate_cox(d)["ph_p"] == pytest.approx(want[name]["p"][0], rel=1e-6)


@pytest.mark.slow
def test_cox_zph_equals_r_and_rewrites_golden(tmp_path):
    for name in [*COVARIATES, "batch"]:
        simulate(name).to_csv(tmp_path / f"{name}.csv", index=False)
    run_r(R_CODE, tmp_path, "survival", "jsonlite")
    want = json.loads((tmp_path / "r.json").read_text())
    check(want)
    check_pipeline(want)
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(want, indent=1) + "\n")


def test_cox_zph_equals_r_golden():
    want = json.loads(GOLDEN.read_text())
    check(want)
    check_pipeline(want)


def test_ph_violation_is_detected_and_pure_noise_is_not():
    """Planted: an effect that reverses sign half-way through follow-up gives a tiny p."""
    rng = np.random.default_rng(9)
    n = 400
    x = rng.normal(size=n)
    early = rng.exponential(1 / (0.1 * np.exp(1.0 * x)))
    late = 12 + rng.exponential(1 / (0.1 * np.exp(-1.0 * x)))
    t = np.where(early < 12, early, late)
    c = rng.uniform(10, 60, size=n)
    time, event = np.minimum(t, c), (t <= c).astype(int)
    d = pd.DataFrame({"time": time, "event": event, "z": x})
    assert univariate_cox(d)["ph_p"] < 1e-6
    d["z"] = rng.normal(size=n)
    assert univariate_cox(d)["ph_p"] > 0.01
