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
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

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
    tier: str = "detail"
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
    """Compare scores of responders (1) and non-responders (0): every statistic of one score."""
    name = score.name if score.name is not None else "score"
    return response_table(response, pd.DataFrame({name: score}), min_per_class=min_per_class,
                          covariates=covariates)[name]


def response_table(response: pd.Series, scores: pd.DataFrame, *, min_per_class: int = 5,
                   covariates: pd.DataFrame | None = None,
                   detail: Iterable[str] | None = None) -> dict[str, ResponseResult]:
    """Response statistics of every score (column of ``scores``), two tiers.

    Screening tier, every score at once (``ferroscope.batchstats.auc_delong``): AUC with DeLong
    SE and CI, Mann-Whitney p. Detail tier, for the scores in ``detail`` (None: all): the odds
    ratio per SD (logistic), alone and adjusted for ``covariates``. ``tier`` says which.
    """
    from .batchstats import auc_delong

    screen = auc_delong(response, scores, min_per_class=min_per_class)
    wanted = set(scores.columns if detail is None else detail)
    out = {}
    for col in scores.columns:
        row = screen.loc[col]
        res = ResponseResult(n=int(row["n"]), n_responders=int(row["n_pos"]),
                             n_non_responders=int(row["n_neg"]),
                             tier="detail" if col in wanted else "screening")
        if res.tier == "screening":
            res.n_adj = np.nan
        if row["status"] != "ok":
            res.status, res.note = "not tested", row["note"]
        else:
            res.auc, res.se = float(row["auc"]), float(row["se"])
            res.ci_low, res.ci_high = float(row["ci_low"]), float(row["ci_high"])
            res.p_mwu = float(row["p_mwu"])
            if res.tier == "detail":
                _logistic_detail(response, scores[col], covariates, res)
        out[col] = res
    return out


def _logistic_detail(response: pd.Series, score: pd.Series, covariates: pd.DataFrame | None,
                     res: ResponseResult) -> None:
    """Odds ratio of response per SD, alone and adjusted (complete cases), filled into res."""
    df = pd.DataFrame({"y": response, "s": score}).dropna()
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


def treated_arm(clinical: pd.DataFrame, arm: str, *, file: str, cohort: str) -> pd.DataFrame:
    """``treated_subset`` (labelled or not) of the response steps; an arm with no scored sample
    stops the run, naming the arms present."""
    from .errors import FerroscopeError

    treated = treated_subset(clinical, arm, labelled=False)
    if arm and treated.empty:
        arms = (clinical["arm"].fillna("").astype(str) if "arm" in clinical
                else pd.Series("", index=clinical.index))
        seen = ", ".join(f"'{a}' {n}" for a, n in arms.value_counts().items())
        raise FerroscopeError(
            f"no scored sample is in arm '{arm}' (arms of the scored samples: {seen}).",
            file=file, field=f"cohorts.{cohort}.clinical.response.arm",
            fix="name an arm present in the data, or check that the samples of that arm have "
            "expression.")
    return treated


def roc_points(response: pd.Series, score: pd.Series) -> pd.DataFrame:
    """ROC curve (false- and true-positive rates) for calling responders by a high score."""
    from sklearn.metrics import roc_curve

    df = pd.DataFrame({"y": response, "s": score}).dropna()
    fpr, tpr, thr = roc_curve(df["y"].astype(int), df["s"])
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thr})
