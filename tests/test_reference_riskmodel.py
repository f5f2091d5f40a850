"""Risk models against R: glmnet 4.1 (Cox LASSO path and cv.glmnet), survival::concordance,
riskRegression::Score (IPCW time-dependent AUC).

Conventions matched: genes standardised with the population SD (divisor n), as glmnet's
``standardize = TRUE`` (glmnet returns coefficients per raw unit; times the population SD they
are the coefficients per SD that ferroscope stores); Breslow ties (glmnet's Cox); cross-validation
folds standardised on their own training part and scored by the grouped partial-likelihood
deviance (``cv.glmnet(type.measure = "deviance", grouped = TRUE)``) with the same fold ids.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ferroscope import riskmodel

from .rref import run_r

#: R outputs kept for the fast lane (tests/test_riskmodel.py compares against them without R);
#: FERROSCOPE_UPDATE_GOLDEN=1 with these R tests rewrites them from the live R run.
GOLDEN = Path(__file__).parent / "golden"


def keep_golden(src: Path, name: str) -> None:
    if os.environ.get("FERROSCOPE_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        shutil.copyfile(src, GOLDEN / name)

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


# --- repeated cross-validation: the mean of cv.glmnet curves over the same fold ids ---

REPEATED_CV_R = """
suppressMessages({library(glmnet); library(survival)})
d <- read.delim("d.tsv"); lam <- read.delim("lam.tsv")$lambda
folds <- as.matrix(read.delim("folds.tsv"))
x <- as.matrix(d[, grep("^g", names(d))])
y <- Surv(d$time, d$event)
cvm <- 0; cvsd <- 0; lmin <- c()
for (r in seq_len(ncol(folds))) {
  cv <- cv.glmnet(x, y, family = "cox", lambda = lam, alpha = 1, foldid = folds[, r],
                  thresh = 1e-14, maxit = 1e7, grouped = TRUE, type.measure = "deviance")
  cvm <- cvm + cv$cvm / ncol(folds); cvsd <- cvsd + cv$cvsd / ncol(folds)
  lmin <- c(lmin, cv$lambda.min)
}
# cv.glmnet's rules on the mean curve
best <- which(cvm <= min(cvm)); lambda.min <- max(lam[best])
lambda.1se <- max(lam[cvm <= min(cvm) + cvsd[best[1]]])
write.table(data.frame(lambda = lam, cvm = cvm, cvsd = cvsd, lambda_min = lambda.min,
                       lambda_1se = lambda.1se), "r_rcv.tsv", sep = "\\t", quote = FALSE,
            row.names = FALSE)
write.table(data.frame(lambda_min_repeat = lmin), "r_lmin.tsv", sep = "\\t", quote = FALSE,
            row.names = FALSE)
"""


def repeated_cv_case(seed: int = 8, repeats: int = 3):
    """Data, fold ids (repeats x n) and ferroscope's repeated CV for the R comparison."""
    d = simulate_genes(seed)
    genes = [c for c in d if c.startswith("g")]
    z, _, _ = riskmodel.standardise(d[genes])
    folds = riskmodel.repeated_fold_ids(len(d), 5, repeats, seed)
    cv, _ = riskmodel.cv_coxnet(z.to_numpy(), d["time"].to_numpy(float),
                                d["event"].to_numpy(float), folds=folds)
    return d, folds, cv


def test_repeated_cv_equals_mean_of_cv_glmnet_curves(tmp_path):
    d, folds, cv = repeated_cv_case()
    d.to_csv(tmp_path / "d.tsv", sep="\t", index=False)
    pd.DataFrame({"lambda": cv.alphas}).to_csv(tmp_path / "lam.tsv", sep="\t", index=False)
    pd.DataFrame(folds.T, columns=[f"r{i}" for i in range(len(folds))]).to_csv(
        tmp_path / "folds.tsv", sep="\t", index=False)
    run_r(REPEATED_CV_R, tmp_path, "glmnet", "survival")
    keep_golden(tmp_path / "r_rcv.tsv", "riskmodel_repeated_cv.tsv")
    keep_golden(tmp_path / "r_lmin.tsv", "riskmodel_repeated_cv_lambda_min.tsv")
    r = pd.read_csv(tmp_path / "r_rcv.tsv", sep="\t")
    print("max rel diff cvm", np.max(np.abs(cv.cvm / r["cvm"] - 1)),
          "cvsd", np.max(np.abs(cv.cvsd / r["cvsd"] - 1)))
    np.testing.assert_allclose(cv.cvm, r["cvm"], rtol=1e-6)
    np.testing.assert_allclose(cv.cvsd, r["cvsd"], rtol=1e-5)
    assert cv.lambda_min == pytest.approx(r["lambda_min"].iloc[0], rel=1e-12)
    assert cv.lambda_1se == pytest.approx(r["lambda_1se"].iloc[0], rel=1e-12)
    lmin = pd.read_csv(tmp_path / "r_lmin.tsv", sep="\t")["lambda_min_repeat"]
    np.testing.assert_allclose(cv.lambda_min_repeats, lmin, rtol=1e-12)


# --- calibration: slope (coxph on lp), O/E at 3 years (KM), smoothed curve (rcs of cloglog) ---

CALIBRATION_R = """
suppressMessages({library(survival); library(rms)})
d <- read.delim("v.tsv"); s0 <- read.delim("s0.tsv")$s0
fit <- coxph(Surv(time, event) ~ lp, data = d)
km <- summary(survfit(Surv(time, event) ~ 1, data = d), times = 36)
pred <- 1 - s0^exp(d$lp)
oe <- (1 - km$surv) / mean(pred)
half <- qnorm(0.975) * sqrt(1 / km$n.event)
cll <- log(-log(1 - pred))
B <- rcspline.eval(cll, nk = 3, inclx = TRUE)
d$b1 <- B[, 1]; d$b2 <- B[, 2]
f <- coxph(Surv(time, event) ~ b1 + b2, data = d)
sf <- survfit(f, newdata = d[, c("b1", "b2")], ctype = 1)
obs <- 1 - as.numeric(summary(sf, times = 36)$surv)
write.table(data.frame(slope = coef(fit), se = sqrt(vcov(fit))[1, 1], observed = km$surv,
                       predicted = mean(1 - pred), events = km$n.event, oe = oe,
                       oe_low = oe * exp(-half), oe_high = oe * exp(half),
                       ici = mean(abs(obs - pred)), k1 = attr(B, "knots")[1],
                       k2 = attr(B, "knots")[2], k3 = attr(B, "knots")[3]),
            "r_cal.tsv", sep = "\\t", quote = FALSE, row.names = FALSE)
"""


def calibration_case(seed: int = 9, n: int = 300, shrink: float = 1.4):
    """A locked lp whose true effect is ``shrink`` x lp (predictions too compressed), a
    baseline S0(36) of the generating model, and censoring from 12 to 80 months."""
    rng = np.random.default_rng(seed)
    lp = rng.normal(0, 0.6, n)
    rate = 0.02
    t = rng.exponential(1 / (rate * np.exp(shrink * lp)))
    c = rng.uniform(12, 80, n)
    d = pd.DataFrame({"time": np.minimum(t, c), "event": (t <= c).astype(float), "lp": lp})
    return d, float(np.exp(-rate * 36))


def test_calibration_equals_r(tmp_path):
    d, s0 = calibration_case()
    d.to_csv(tmp_path / "v.tsv", sep="\t", index=False)
    pd.DataFrame({"s0": [s0]}).to_csv(tmp_path / "s0.tsv", sep="\t", index=False)
    run_r(CALIBRATION_R, tmp_path, "survival", "rms")
    keep_golden(tmp_path / "r_cal.tsv", "riskmodel_calibration.tsv")
    r = pd.read_csv(tmp_path / "r_cal.tsv", sep="\t").iloc[0]
    check_calibration_against(d, s0, r)


def check_calibration_against(d: pd.DataFrame, s0: float, r: pd.Series) -> None:
    """ferroscope's calibration statistics against R's (live or golden)."""
    slope = riskmodel.calibration_slope(d["time"], d["event"], d["lp"])
    print("slope rel diff", slope["calib_slope"] / r["slope"] - 1,
          "se", slope["calib_slope_se"] / r["se"] - 1)
    assert slope["calib_slope"] == pytest.approx(r["slope"], rel=1e-8)
    assert slope["calib_slope_se"] == pytest.approx(r["se"], rel=1e-8)
    large, note = riskmodel.calibration_in_the_large(d["time"], d["event"], d["lp"], s0)
    assert note == ""
    assert large["calib_observed_36"] == pytest.approx(r["observed"], rel=1e-12)
    assert large["calib_predicted_36"] == pytest.approx(r["predicted"], rel=1e-12)
    assert large["calib_events_36"] == r["events"]
    for key, col in (("calib_oe_36", "oe"), ("calib_oe_36_ci_low", "oe_low"),
                     ("calib_oe_36_ci_high", "oe_high")):
        assert large[key] == pytest.approx(r[col], rel=1e-10), key
    pred = 1 - s0 ** np.exp(d["lp"].to_numpy())
    np.testing.assert_allclose(riskmodel.rcs_knots(np.log(-np.log(1 - pred))),
                               r[["k1", "k2", "k3"]].to_numpy(float), rtol=1e-12)
    _, ici = riskmodel.calibration_curve(d["time"], d["event"], d["lp"], s0)
    print("ICI rel diff", ici / r["ici"] - 1)
    assert ici == pytest.approx(r["ici"], rel=1e-6)
