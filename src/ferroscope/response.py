r"""Treatment response versus a score: AUC with DeLong CI and Mann-Whitney p.

The AUC is :math:`P(S_{responder} > S_{non\text{-}responder}) + \tfrac12 P(=)`, i.e. the
Mann-Whitney :math:`U / (n_1 n_0)`: above 0.5 the score is higher in responders, below 0.5 it is
higher in non-responders (a resistance score is expected below 0.5). Its variance follows
DeLong ER, DeLong DM, Clarke-Pearson DL (1988) Biometrics 44:837-845 via placement values
(structural components); the 95% CI is AUC ± 1.96 SE clipped to [0, 1], as R's pROC reports it.
The p-value is the two-sided Mann-Whitney test (scipy, asymptotic with tie correction).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu, rankdata


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


def auc_test(response: pd.Series, score: pd.Series, *, min_per_class: int = 5) -> ResponseResult:
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
    res.ci_low = max(0.0, res.auc - 1.959964 * res.se)
    res.ci_high = min(1.0, res.auc + 1.959964 * res.se)
    res.p_mwu = float(mannwhitneyu(pos, neg, alternative="two-sided").pvalue)
    return res


def roc_points(response: pd.Series, score: pd.Series) -> pd.DataFrame:
    """ROC curve (false- and true-positive rates) for calling responders by a high score."""
    from sklearn.metrics import roc_curve

    df = pd.DataFrame({"y": response, "s": score}).dropna()
    fpr, tpr, thr = roc_curve(df["y"].astype(int), df["s"])
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thr})
