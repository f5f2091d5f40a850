r"""Treatment response versus a score: AUC with DeLong CI and Mann-Whitney p.

The AUC is :math:`P(S_{responder} > S_{non\text{-}responder}) + \tfrac12 P(=)`, i.e. the
Mann-Whitney :math:`U / (n_1 n_0)`: above 0.5 the score is higher in responders, below 0.5 it is
higher in non-responders (a resistance score is expected below 0.5). Its variance follows
DeLong ER, DeLong DM, Clarke-Pearson DL (1988) Biometrics 44:837-845 via placement values
(structural components); the 95% CI is AUC ± 1.96 SE clipped to [0, 1], as R's pROC reports it.
The p-value is the two-sided Mann-Whitney test (scipy, asymptotic with tie correction).

Logistic regression (statsmodels) gives the odds ratio of response per SD of the score, alone
and adjusted for covariates (complete cases). In a trial with a control arm (STORM: sorafenib
vs placebo), ``interaction_test`` fits ``response ~ z + treated + z:treated`` on both arms: a
significant interaction means the score predicts benefit from the drug, not prognosis alone.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu, norm, rankdata

#: The 97.5% normal quantile, exact (R: qnorm(0.975)), for 95% Wald intervals.
Z975 = float(norm.ppf(0.975))


@dataclass
class ResponseResult:
    n: int = 0
    n_responders: int = 0
    n_non_responders: int = 0
    auc: float = np.nan
    ci_low: float = np.nan
    ci_high: float = np.nan
    se: float = np.nan
    p_mwu: float = np.nan
    or_per_sd: float = np.nan
    or_ci_low: float = np.nan
    or_ci_high: float = np.nan
    p_logit: float = np.nan
    or_adj: float = np.nan
    p_adj: float = np.nan
    n_adj: int = 0
    or_treated: float = np.nan
    or_control: float = np.nan
    p_interaction: float = np.nan
    status: str = "ok"
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def delong_auc(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """AUC and its DeLong standard error from scores of positives and negatives."""
    m, n = len(pos), len(neg)
    all_ranks = rankdata(np.concatenate([pos, neg]))
    r_pos, r_neg = rankdata(pos), rankdata(neg)
    v10 = (all_ranks[:m] - r_pos) / n          # placement of each positive among negatives
    v01 = 1.0 - (all_ranks[m:] - r_neg) / m    # placement of each negative among positives
    auc = float(v10.mean())
    var = v10.var(ddof=1) / m + v01.var(ddof=1) / n
    return auc, float(np.sqrt(var))


def _logit(y: pd.Series, design: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.DataFrame] | None:
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = sm.Logit(y.astype(float), sm.add_constant(design, has_constant="add")).fit(
                disp=0, maxiter=200)
    except (PerfectSeparationError, np.linalg.LinAlgError, ValueError):
        return None
    return fit.params, fit.pvalues, fit.conf_int()


def auc_test(response: pd.Series, score: pd.Series, *, min_per_class: int = 5,
             covariates: pd.DataFrame | None = None) -> ResponseResult:
    """Compare scores of responders (1) and non-responders (0)."""
    df = pd.DataFrame({"y": response, "s": score}).dropna()
    pos = df.loc[df["y"] == 1, "s"].to_numpy(float)
    neg = df.loc[df["y"] == 0, "s"].to_numpy(float)
    res = ResponseResult(n=len(df), n_responders=len(pos), n_non_responders=len(neg))
    if min(len(pos), len(neg)) < min_per_class:
        res.status = "not tested"
        res.note = (f"{len(pos)} responders / {len(neg)} non-responders "
                    f"(< min_per_class = {min_per_class} in a class)")
        return res
    if np.ptp(df["s"].to_numpy()) == 0:
        res.status, res.note = "not tested", "score is constant across patients"
        return res
    res.auc, res.se = delong_auc(pos, neg)
    res.ci_low = max(0.0, res.auc - Z975 * res.se)
    res.ci_high = min(1.0, res.auc + Z975 * res.se)
    res.p_mwu = float(mannwhitneyu(pos, neg, alternative="two-sided").pvalue)
    z = (df["s"] - df["s"].mean()) / df["s"].std(ddof=1)
    fit = _logit(df["y"], z.to_frame("z"))
    if fit is not None:
        params, pvals, ci = fit
        res.or_per_sd, res.p_logit = float(np.exp(params["z"])), float(pvals["z"])
        res.or_ci_low, res.or_ci_high = (float(v) for v in np.exp(ci.loc["z"]))
    if covariates is not None and covariates.shape[1] > 0:
        cov = covariates.reindex(df.index)
        complete = cov.notna().all(axis=1) & (cov.astype(str) != "").all(axis=1)
        design = pd.concat([z[complete].rename("z"), pd.get_dummies(
            cov.loc[complete], drop_first=True, dtype=float)], axis=1)
        fit = _logit(df.loc[complete, "y"], design.loc[:, design.std() > 0])
        if fit is not None:
            res.or_adj, res.p_adj = float(np.exp(fit[0]["z"])), float(fit[1]["z"])
            res.n_adj = int(complete.sum())
            if (~complete).any():
                res.note = f"adjusted model: {int((~complete).sum())} patients dropped"
    return res


def interaction_test(response: pd.Series, score: pd.Series, arm: pd.Series, *, treated: str,
                     control: str, res: ResponseResult, min_per_class: int = 5) -> None:
    """Score x treatment interaction on response (logistic), filled into ``res``."""
    df = pd.DataFrame({"y": response, "s": score, "arm": arm.astype(str)}).dropna()
    df = df[df["arm"].isin([treated, control])]
    counts = df.groupby("arm")["y"].agg(["sum", "count"])
    if len(counts) < 2 or ((counts["sum"] < min_per_class)
                           | (counts["count"] - counts["sum"] < min_per_class)).any():
        res.note = "; ".join(filter(None, [res.note, "interaction not tested: too few "
                                           "responders or non-responders in an arm"]))
        return
    z = (df["s"] - df["s"].mean()) / df["s"].std(ddof=1)
    t = (df["arm"] == treated).astype(float)
    fit = _logit(df["y"], pd.DataFrame({"z": z, "treated": t, "z_treated": z * t}))
    if fit is None:
        return
    params, pvals, _ = fit
    res.p_interaction = float(pvals["z_treated"])
    res.or_control = float(np.exp(params["z"]))
    res.or_treated = float(np.exp(params["z"] + params["z_treated"]))


def treated_subset(clinical: pd.DataFrame, arm: str, *, labelled: bool = True) -> pd.DataFrame:
    """The patients of a cohort's response analysis: those of the treated ``arm``.

    ``arm`` is the cohort's ``clinical.response.arm`` ("" = every patient), compared exactly
    with the ``arm`` column the prepare step wrote (arms as config names them). ``labelled``
    keeps only patients with a response label (1 responder, 0 non-responder).
    """
    out = clinical
    if arm:
        # (object from a TSV, categorical from an .h5ad's obs; missing arms are no arm)
        arms = (clinical["arm"].astype("string").fillna("") if "arm" in clinical
                else pd.Series("", index=clinical.index, dtype="string"))
        out = out[(arms == arm).to_numpy(dtype=bool)]
    if labelled:
        out = out[out["response"].notna()]
    return out


def roc_points(response: pd.Series, score: pd.Series) -> pd.DataFrame:
    """ROC curve (false- and true-positive rates) for calling responders by a high score."""
    from sklearn.metrics import roc_curve

    df = pd.DataFrame({"y": response, "s": score}).dropna()
    fpr, tpr, thr = roc_curve(df["y"].astype(int), df["s"])
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thr})
