"""Risk models against R: glmnet 4.1 (Cox LASSO path and cv.glmnet), survival::concordance,
riskRegression::Score (IPCW time-dependent AUC).

Conventions matched: genes standardised with the population SD (divisor n), as glmnet's
``standardize = TRUE`` (glmnet returns coefficients per raw unit; times the population SD they
are the coefficients per SD that ferroscope stores); Breslow ties (glmnet's Cox); cross-validation
folds standardised on their own training part and scored by the grouped partial-likelihood
deviance (``cv.glmnet(type.measure = "deviance", grouped = TRUE)``) with the same fold ids.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferroscope import riskmodel

from .rref import run_r

# R runs in every test: a whole-suite test, not for the fast lane
pytestmark = pytest.mark.slow


GLMNET_R = """
suppressMessages({library(glmnet); library(survival)})
d <- read.delim("d.tsv"); lam <- read.delim("lam.tsv")$lambda
x <- as.matrix(d[, grep("^g", names(d))])
y <- Surv(d$time, d$event)
f <- glmnet(x, y, family = "cox", lambda = lam, alpha = ALPHA, standardize = TRUE,
            thresh = 1e-14, maxit = 1e7)
sdp <- apply(x, 2, function(v) sqrt(mean((v - mean(v))^2)))
write.table(as.matrix(coef(f)) * sdp, "r_coef.tsv", sep = "\\t", quote = FALSE,
            row.names = FALSE, col.names = FALSE)
cv <- cv.glmnet(x, y, family = "cox", lambda = lam, alpha = ALPHA, foldid = d$fold,
                thresh = 1e-14, maxit = 1e7, grouped = TRUE, type.measure = "deviance")
write.table(data.frame(cvm = cv$cvm, cvsd = cv$cvsd, lmin = cv$lambda.min,
                       l1se = cv$lambda.1se), "r_cv.tsv", sep = "\\t", quote = FALSE,
            row.names = FALSE)
"""

METRICS_R = """
suppressMessages({library(survival); library(riskRegression)})
d <- read.delim("a.tsv")
cc <- concordance(Surv(time, event) ~ risk, data = d, reverse = TRUE)
s <- Score(list(risk = d$risk), formula = Surv(time, event) ~ 1, data = d,
           times = c(12, 36, 60), metrics = "auc", cens.model = "km", conf.int = FALSE,
           null.model = FALSE)
a <- as.data.frame(s$AUC$score)
write.table(data.frame(times = a$times, auc = a$AUC, c = cc$concordance), "r_auc.tsv",
            sep = "\\t", quote = FALSE, row.names = FALSE)
"""


def simulate_genes(seed: int, n: int = 160, p: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(5, 1.5, size=(n, p)) * rng.uniform(0.5, 2, size=p)
    beta = np.r_[0.6, -0.5, 0.4, np.zeros(p - 3)]
    xs = (x - x.mean(0)) / x.std(0)
    t = rng.exponential(1 / (0.03 * np.exp(xs @ beta)))
    c = rng.uniform(10, 80, n)
    d = pd.DataFrame(x, columns=[f"g{i}" for i in range(p)])
    d["time"] = np.ceil(np.minimum(t, c))          # whole months: tied event times
    d["event"] = (t <= c).astype(float)
    d["fold"] = riskmodel.fold_ids(n, 5, seed)
    return d


@pytest.mark.parametrize("seed,l1_ratio", [(3, 1.0), (4, 1.0), (5, 0.5)])
def test_coxnet_path_and_cv_match_glmnet(tmp_path, seed, l1_ratio):
    d = simulate_genes(seed)
    genes = [c for c in d if c.startswith("g")]
    z, _, _ = riskmodel.standardise(d[genes])
    t, e = d["time"].to_numpy(float), d["event"].to_numpy(float)
    cv, coef = riskmodel.cv_coxnet(z.to_numpy(), t, e, l1_ratio=l1_ratio,
                                   folds=d["fold"].to_numpy())
    d.to_csv(tmp_path / "d.tsv", sep="\t", index=False)
    pd.DataFrame({"lambda": cv.alphas}).to_csv(tmp_path / "lam.tsv", sep="\t", index=False)
    run_r(GLMNET_R.replace("ALPHA", repr(l1_ratio)), tmp_path, "glmnet", "survival")
    want = np.loadtxt(tmp_path / "r_coef.tsv")
    assert want.shape == coef.shape
    big = np.abs(want) > 1e-3
    assert np.max(np.abs(coef - want)[big] / np.abs(want[big])) < 1e-4
    assert np.max(np.abs(coef - want)) < 1e-6
    assert ((coef == 0) == (want == 0)).mean() > 0.99          # same active sets
    r = pd.read_csv(tmp_path / "r_cv.tsv", sep="\t")
    np.testing.assert_allclose(cv.cvm, r["cvm"], rtol=1e-6)
    np.testing.assert_allclose(cv.cvsd, r["cvsd"], rtol=1e-5)
    assert cv.lambda_min == pytest.approx(r["lmin"].iloc[0], rel=1e-12)
    assert cv.lambda_1se == pytest.approx(r["l1se"].iloc[0], rel=1e-12)


def simulate_risk(seed: int, ties: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 200
    r = rng.normal(size=n)
    t = rng.exponential(1 / (0.03 * np.exp(0.7 * r)))
    c = rng.uniform(10, 90, n)
    time = np.minimum(t, c)
    if ties == "time":
        time = np.ceil(time)
    if ties == "marker":
        r = np.round(r, 1)
    return pd.DataFrame({"time": time, "event": (t <= c).astype(int), "risk": r})


@pytest.mark.parametrize("seed,ties", [(5, "none"), (6, "marker"), (7, "time")])
def test_c_index_and_td_auc_match_r(tmp_path, seed, ties):
    from sksurv.metrics import cumulative_dynamic_auc
    from sksurv.util import Surv

    d = simulate_risk(seed, ties)
    d.to_csv(tmp_path / "a.tsv", sep="\t", index=False)
    run_r(METRICS_R, tmp_path, "survival", "riskRegression")
    want = pd.read_csv(tmp_path / "r_auc.tsv", sep="\t")
    c = riskmodel.harrell_c(d["time"].to_numpy(), d["event"].to_numpy(), d["risk"].to_numpy())
    assert c == pytest.approx(want["c"].iloc[0], abs=1e-10)
    y = Surv.from_arrays(d["event"].astype(bool), d["time"])
    auc = cumulative_dynamic_auc(y, y, d["risk"].to_numpy(), [12.0, 36.0, 60.0])[0]
    if ties == "time":
        # tied event/censoring times: scikit-survival weights a case by 1/G(T) (censoring at T
        # removed), riskRegression by 1/G(T-): a known convention difference, < 1e-3 here
        assert np.max(np.abs(auc - want["auc"])) < 1e-3
    else:
        np.testing.assert_allclose(auc, want["auc"], atol=1e-6)
