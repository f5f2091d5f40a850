"""One tidy results table across cohorts, methods, sets and endpoints, pooled and with BH FDR.

Rows: one per cohort x method x set x endpoint. ``estimate`` is the HR per SD (survival
endpoints) or the AUC (response); ``p`` is the primary test's p-value (Cox Wald, Mann-Whitney).

FDR families (``q``, Benjamini-Hochberg): per scoring method, all tested sets x cohorts x
endpoints (methods are alternative measurements of the same hypotheses, not extra hypotheses);
the pooled rows of a method are a family of their own. A risk model's training-cohort row
(analysis ``cox_hr_per_sd_training``) is in no family: it is shown, marked optimistic, with
no q (its p tests the data the model was fitted to, and would lower the validation rows' q).

Cohorts are compared through effect sizes only: rows with ``cohort == "pooled"`` are
random-effects meta-analyses (:mod:`ferroscope.meta`; REML with the Hartung-Knapp-Sidik-Jonkman
CI by default, ``statistics.meta.method``) of the log HR per SD (with its Cox SE) or of the
AUC (with its DeLong SE) over the cohorts where the test was possible, with tau², I², Cochran's
Q and the 95% prediction interval (``pi_low``, ``pi_high``); pooled over 2 cohorts the note
says so (``FEW_COHORTS``).

Two tiers (``detail_selection``): every scored set gets the screening statistics and enters
the FDR; the detail tier (PH test, maxstat, time split, adjusted model, td-AUC, logistic OR,
KM figures) is computed for the sets with q below ``statistics.detail.q`` (in a cohort, or
pooled), the ``statistics.detail.top`` smallest p per cohort x method x endpoint, and every set
of the shipped curated GMT. Column ``tier`` says which tier a row had.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

from .meta import LABEL, MAX_ITER, REML_HKSJ, pool
from .response import ResponseResult
from .survival import SurvivalResult

POOLED = "pooled"
#: The analysis of a risk model's row in its own training cohort (optimistic; no FDR family).
TRAINING = "cox_hr_per_sd_training"
#: The flag of a pooled row over two cohorts (note column; the report marks such rows).
FEW_COHORTS = ("k = 2: tau² from two cohorts is barely estimable; read the prediction interval "
               "and the cohorts, not the pooled CI alone")
COLUMNS = ["cohort", "method", "set", "endpoint", "analysis", "estimate", "ci_low", "ci_high",
           "p", "q", "status", "note"]


def survival_rows(results: dict[tuple[str, str], SurvivalResult], cohort: str,
                  method: str) -> pd.DataFrame:
    rows = []
    for (set_name, endpoint), r in results.items():
        d = r.as_dict()
        d.update(cohort=cohort, method=method, set=set_name, endpoint=endpoint,
                 analysis="cox_hr_per_sd", estimate=d["hr"], p=d["p_wald"])
        rows.append(d)
    return _table(rows)


def _table(rows: list[dict]) -> pd.DataFrame:
    """Rows as a table; with no rows, the standard columns (so the file has a header)."""
    if not rows:
        return pd.DataFrame(columns=[c for c in COLUMNS if c != "q"] + ["n"])
    return pd.DataFrame(rows)


def response_rows(results: dict[str, ResponseResult], cohort: str, method: str) -> pd.DataFrame:
    rows = []
    for set_name, r in results.items():
        d = r.as_dict()
        d.update(cohort=cohort, method=method, set=set_name, endpoint="response",
                 analysis="auc", estimate=d["auc"], p=d["p_mwu"])
        rows.append(d)
    return _table(rows)


def meta_analyse(table: pd.DataFrame, method: str = REML_HKSJ) -> pd.DataFrame:
    """Random-effects pooling of every method x set x endpoint tested in two or more cohorts.

    ``method``: ``reml_hksj`` (REML tau², Hartung-Knapp-Sidik-Jonkman CI, as R metafor
    ``rma(method = "REML", test = "knha")``) or ``dl`` (DerSimonian-Laird, Wald CI); see
    :mod:`ferroscope.meta`. All groups are pooled in one vectorised call.
    """
    ok = table[(table["status"] == "ok") & (table["cohort"] != POOLED)]
    keys = ["method", "set", "endpoint", "analysis"]
    if ok.empty:
        return pd.DataFrame()
    ok = ok.assign(_g=ok.groupby(keys, sort=False).ngroup())
    ok = ok[ok.groupby("_g")["_g"].transform("size") >= 2]
    if ok.empty:
        return pd.DataFrame()
    ok = ok.assign(_g=ok.groupby(keys, sort=False).ngroup(), _i=ok.groupby(keys).cumcount())
    survival = (ok["analysis"] == "cox_hr_per_sd").to_numpy()
    eff = np.where(survival, ok.get("log_hr", np.nan), ok["estimate"]).astype(float)
    se = np.where(survival, ok.get("se_log_hr", np.nan), ok.get("se", np.nan)).astype(float)
    g, i = ok["_g"].to_numpy(), ok["_i"].to_numpy()
    shape = (int(g.max()) + 1, int(i.max()) + 1)
    y, s = np.full(shape, np.nan), np.full(shape, np.nan)
    y[g, i], s[g, i] = eff, se
    first = ok.drop_duplicates("_g").set_index("_g").sort_index()
    is_surv = (first["analysis"] == "cox_hr_per_sd").to_numpy()
    null = np.where(is_surv, 0.0, 0.5)
    res = pool(y - null[:, None], s, method=method)
    mean = res.estimate + null
    back = {name: np.where(is_surv, np.exp(getattr(res, name) + null),
                           getattr(res, name) + null)
            for name in ("ci_low", "ci_high", "pi_low", "pi_high")}
    cohorts = ok.groupby("_g")["cohort"].agg(lambda c: ", ".join(map(str, c)))
    n = ok.groupby("_g")["n"].sum()
    out = pd.DataFrame({
        "cohort": POOLED, "method": first["method"].to_numpy(), "set": first["set"].to_numpy(),
        "endpoint": first["endpoint"].to_numpy(), "analysis": first["analysis"].to_numpy(),
        "estimate": np.where(is_surv, np.exp(mean), mean), **{c: back[c] for c in
                                                               ("ci_low", "ci_high")},
        "p": res.p, "status": np.where(res.converged, "ok", "not tested"),
        "n_cohorts": res.k, "tau2": res.tau2, "i2": res.i2, "pi_low": back["pi_low"],
        "pi_high": back["pi_high"], "cochran_q": res.q, "cochran_p": res.q_p,
        "meta_method": method, "n": n.to_numpy().astype(int),
        "log_hr": np.where(is_surv, mean, np.nan), "se_log_hr": np.where(is_surv, res.se, np.nan),
        "se": np.where(is_surv, np.nan, res.se),
    })
    out["note"] = [_pool_note(method, int(k), c, bool(conv))
                   for k, c, conv in zip(res.k, cohorts.to_numpy(), res.converged, strict=True)]
    if not (~is_surv).any():
        out = out.drop(columns="se")
    if not is_surv.any():
        out = out.drop(columns=["log_hr", "se_log_hr"])
    return out


def _pool_note(method: str, k: int, cohorts: str, converged: bool) -> str:
    if not converged:
        return (f"REML did not converge in {MAX_ITER} Fisher-scoring steps over {k} cohorts "
                f"({cohorts}); set statistics.meta.method: dl to pool by DerSimonian-Laird")
    note = f"{LABEL[method]} over {k} cohorts ({cohorts})"
    if k == 2:
        note += f"; {FEW_COHORTS}"
    return note


def add_fdr(table: pd.DataFrame) -> pd.DataFrame:
    """Add ``q``: BH within each method over rows with a p-value; pooled rows separately.

    Training-cohort rows (``TRAINING``) are in no family and keep ``q`` empty.
    """
    out = table.copy()
    out["q"] = np.nan
    pooled = out["cohort"] == POOLED if "cohort" in out else pd.Series(False, index=out.index)
    tested = out["analysis"] != TRAINING if "analysis" in out else pd.Series(True, out.index)
    for _, idx in out[tested].groupby([out["method"], pooled]).groups.items():
        p = out.loc[idx, "p"]
        ok = p.notna()
        if ok.any():
            out.loc[p[ok].index, "q"] = false_discovery_control(p[ok].to_numpy(), method="bh")
    rest = [c for c in out.columns if c not in COLUMNS]
    return out[[c for c in COLUMNS if c in out.columns] + rest]


def combine(tables: list[pd.DataFrame], meta_method: str = REML_HKSJ) -> pd.DataFrame:
    """Per-cohort tables -> one table with the pooled rows (``meta_method``) and ``q``."""
    tables = [t for t in tables if not t.empty]
    if not tables:
        return pd.DataFrame(columns=COLUMNS)
    merged = pd.concat(tables, ignore_index=True)
    pooled = meta_analyse(merged, meta_method)
    if not pooled.empty:
        merged = pd.concat([merged, pooled], ignore_index=True)
    return add_fdr(_pooled_tier(merged))


def _pooled_tier(table: pd.DataFrame) -> pd.DataFrame:
    """``tier`` of every row: a pooled row is "detail" when a cohort row it pools is; rows
    without a tier (risk signatures: every statistic) are "detail"."""
    out = table.copy()
    if "tier" not in out:
        out["tier"] = "detail"
        return out
    pooled = out["cohort"] == POOLED
    out.loc[~pooled, "tier"] = out.loc[~pooled, "tier"].fillna("detail")
    key = ["method", "set", "endpoint", "analysis"]
    detail = out.loc[~pooled & (out["tier"] == "detail"), key].drop_duplicates()
    hit = out.loc[pooled, key].merge(detail.assign(_hit=True), on=key, how="left")["_hit"]
    out.loc[pooled, "tier"] = np.where(hit.notna().to_numpy(), "detail",
                                       "screening")
    return out


SELECTION_COLUMNS = ["cohort", "method", "set", "endpoint", "analysis", "reason"]


def detail_selection(table: pd.DataFrame, *, q: float, top: int,
                     curated: Iterable[str]) -> pd.DataFrame:
    """The cohort x method x set x endpoint rows that get the detail tier, with the reasons.

    ``table`` is the screening statistics as ``combine`` returns them (q as statistics.tsv
    will have it, pooled rows included). A row is selected when its q < ``q``, when the pooled
    row of its method x set x endpoint has q < ``q``, when its p is among the ``top`` smallest
    of its cohort x method x endpoint (tested rows; ties broken by set name), or when its set is
    in ``curated``. Columns: ``SELECTION_COLUMNS``.
    """
    key = ["method", "set", "endpoint", "analysis"]
    if table.empty:
        return pd.DataFrame(columns=SELECTION_COLUMNS)
    pooled = table["cohort"] == POOLED
    rows = table.loc[~pooled, ["cohort", *key, "p", "q", "status"]].copy()
    reasons: dict[str, pd.Series] = {}
    reasons[f"q < {q:g}"] = rows["q"] < q
    sig_pooled = table.loc[pooled & (table["q"] < q), key].drop_duplicates()
    reasons[f"pooled q < {q:g}"] = rows[key].merge(
        sig_pooled.assign(_hit=True), on=key, how="left")["_hit"].notna().to_numpy(
        dtype=bool)
    ranked = rows[rows["status"] == "ok"].sort_values(["p", "set"], kind="stable")
    first = ranked.groupby(["cohort", "method", "endpoint", "analysis"], sort=False).head(top)
    reasons[f"top {top}"] = rows.index.isin(first.index)
    reasons["curated set"] = rows["set"].isin(set(curated))
    flags = pd.DataFrame({k: np.asarray(v, dtype=bool) for k, v in reasons.items()},
                         index=rows.index)
    chosen = flags.any(axis=1)
    out = rows.loc[chosen, ["cohort", *key]].copy()
    out["reason"] = ["; ".join(k for k in flags.columns if f[k])
                     for _, f in flags[chosen].iterrows()]
    return out.reset_index(drop=True)[SELECTION_COLUMNS]
