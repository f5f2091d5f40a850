"""Cox and maxstat against R (Debian r-cran-survival 3.5, r-cran-maxstat 0.7-25)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferroscope.survival import cox_per_sd, maxstat_logrank

from .rref import run_r

R_CODE = """
suppressMessages({library(survival); library(maxstat)})
d <- read.delim("d.tsv")
d$z <- (d$score - mean(d$score)) / sd(d$score)
f <- coxph(Surv(time, event) ~ z, data = d, ties = "efron")
s <- summary(f)
m <- maxstat.test(Surv(time, event) ~ score, data = d, smethod = "LogRank", pmethod = "Lau94",
                  minprop = 0.1, maxprop = 0.9)
out <- data.frame(coef = unname(coef(f)), se = unname(sqrt(diag(vcov(f)))),
                  cindex = unname(concordance(f)$concordance),
                  p_lr = unname(s$logtest["pvalue"]), p_wald = unname(s$waldtest["pvalue"]),
                  m_stat = unname(m$statistic), m_cut = unname(m$estimate), m_p = m$p.value)
write.table(out, "r.tsv", sep = "\\t", quote = FALSE, row.names = FALSE)
"""


def simulate(seed: int, ties: bool, hr: float = 1.5, n: int = 250) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.normal(size=n)
    t = rng.exponential(1 / (0.04 * np.exp(np.log(hr) * score)))
    c = rng.uniform(6, 72, size=n)
    time = np.minimum(t, c)
    if ties:
        time = np.ceil(time)          # whole months: many tied event times
        score = np.round(score, 1)    # and tied scores (cut-points with ties)
    return pd.DataFrame({"time": time, "event": (t <= c).astype(int), "score": score})


@pytest.mark.parametrize("seed,ties", [(1, False), (2, True), (3, True)])
def test_cox_and_maxstat_match_r(tmp_path, seed, ties):
    d = simulate(seed, ties)
    d.to_csv(tmp_path / "d.tsv", sep="\t", index=False)
    run_r(R_CODE, tmp_path, "survival", "maxstat")
    want = pd.read_csv(tmp_path / "r.tsv", sep="\t").iloc[0]
    r = cox_per_sd(d["time"], d["event"], d["score"], td_auc=False)
    assert r.log_hr == pytest.approx(want.coef, rel=1e-6)
    assert np.exp(r.log_hr) == pytest.approx(np.exp(want.coef), rel=1e-6)
    assert r.se_log_hr == pytest.approx(want.se, rel=1e-6)
    assert r.c_index == pytest.approx(want.cindex, abs=1e-9)
    assert r.p_lr == pytest.approx(want.p_lr, rel=1e-4)
    assert r.p_wald == pytest.approx(want.p_wald, rel=1e-4)
    stat, cut, p = maxstat_logrank(d["time"], d["event"], d["score"])
    assert stat == pytest.approx(want.m_stat, rel=1e-9)
    assert cut == pytest.approx(want.m_cut, abs=1e-12)
    assert p == pytest.approx(min(1.0, want.m_p), rel=0.05)   # acceptance: within 5 %
    assert p == pytest.approx(min(1.0, want.m_p), rel=1e-9)   # in fact: the same formula
