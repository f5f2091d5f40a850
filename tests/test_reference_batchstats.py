"""Batch engine against live R (survival 3.5: coxph Efron, concordance, survdiff).

Also checks that the frozen R output tests/golden/batchstats_r.tsv (read by the fast lane,
tests/test_batchstats.py) is what R gives today; ``FERROSCOPE_REGEN_GOLDEN=1`` (tests/rgolden.py)
rewrites the golden files from this run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from .rgolden import REGEN
from .rref import run_r
from .test_batchstats import GOLDEN, assert_matches_r

pytestmark = pytest.mark.slow

R_CODE = r"""
suppressMessages(library(survival))
d <- read.delim("input.tsv")
feats <- setdiff(names(d), c("time", "event"))
rows <- lapply(feats, function(f) {
  x <- d[[f]]; ok <- !is.na(x)
  s <- data.frame(time = d$time[ok], event = d$event[ok], x = x[ok])
  na <- data.frame(feature = f, r_status = "constant", coef = NA, se = NA, p_wald = NA,
                   p_lr = NA, concordance = NA, survdiff_p = NA)
  if (sd(s$x) == 0) return(na)
  s$z <- (s$x - mean(s$x)) / sd(s$x)
  warned <- ""
  fit <- withCallingHandlers(
    coxph(Surv(time, event) ~ z, data = s, ties = "efron",
          control = coxph.control(eps = 1e-14, toler.chol = 1e-15, iter.max = 100)),
    warning = function(w) { warned <<- conditionMessage(w)
                            invokeRestart("muffleWarning") })
  sm <- summary(fit)
  s$high <- s$x > median(s$x)
  sd_ <- survdiff(Surv(time, event) ~ high, data = s)
  data.frame(feature = f, r_status = if (grepl("infinite|converge", warned)) "infinite" else "ok",
             coef = unname(coef(fit)), se = unname(sqrt(diag(vcov(fit)))),
             p_wald = unname(sm$waldtest["pvalue"]), p_lr = unname(sm$logtest["pvalue"]),
             concordance = unname(concordance(fit)$concordance),
             survdiff_p = pchisq(sd_$chisq, 1, lower.tail = FALSE))
})
out <- do.call(rbind, rows)
num <- sapply(out, is.numeric)
out[num] <- lapply(out[num], function(v) ifelse(is.na(v), "NA", sprintf("%.17g", v)))
write.table(out, "r.tsv", sep = "\t", quote = FALSE, row.names = FALSE)
"""


def golden_input() -> pd.DataFrame:
    """150 patients, whole-month (tied) times; a planted effect, ties, missing values, a
    constant and a monotone-likelihood feature."""
    rng = np.random.default_rng(17)
    n = 150
    x = rng.normal(size=(n, 4))
    t = rng.exponential(1 / (0.04 * np.exp(np.log(1.6) * x[:, 0])))
    c = rng.uniform(6, 72, n)
    time = np.ceil(np.minimum(t, c))
    event = (t <= c).astype(int)
    d = pd.DataFrame({"time": time, "event": event, "signal": np.round(x[:, 0], 6),
                      "noise": np.round(x[:, 1], 6), "tied": np.round(x[:, 2], 1),
                      "missing": np.round(x[:, 3], 6), "constant": 2.0,
                      "monotone": -time + 0.5 * event})
    d.loc[rng.choice(n, 20, replace=False), "missing"] = np.nan
    return d


def test_engine_equals_live_r_and_golden_files(tmp_path):
    data = golden_input()
    data.to_csv(tmp_path / "input.tsv", sep="\t", index=False)
    run_r(R_CODE, tmp_path, "survival")
    want = pd.read_csv(tmp_path / "r.tsv", sep="\t", float_precision="round_trip",
                       index_col="feature")
    assert_matches_r(data, want)
    assert set(want["r_status"]) == {"ok", "constant", "infinite"}
    if REGEN:
        GOLDEN.mkdir(exist_ok=True)
        data.to_csv(GOLDEN / "batchstats_input.tsv", sep="\t", index=False)
        want.to_csv(GOLDEN / "batchstats_r.tsv", sep="\t")
    frozen_in = pd.read_csv(GOLDEN / "batchstats_input.tsv", sep="\t",
                            float_precision="round_trip")
    frozen = pd.read_csv(GOLDEN / "batchstats_r.tsv", sep="\t", float_precision="round_trip",
                         index_col="feature")
    pd.testing.assert_frame_equal(frozen_in, data, check_dtype=False)
    pd.testing.assert_frame_equal(frozen, want, check_dtype=False, rtol=1e-12)
