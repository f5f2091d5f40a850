"""Survival analysis of scores: Cox HR per SD, Kaplan-Meier by median split, log-rank, two tiers.

``survival_table`` takes every score of a cohort at once (samples x scores). Screening tier,
all scores, from the batch engine (``ferroscope.batchstats``): each score standardised within
the cohort (mean 0, SD 1), univariate Cox model with Efron ties converged to a step below 1e-12
(coefficients, SE, Wald and LR p equal to R's ``coxph(ties = "efron")`` to 1e-8 relative), HR
per SD with its 95% Wald CI, Harrell's C-index, KM median split. Detail tier, the scores named
in ``detail``: the proportional-hazards score test of R survival's ``cox.zph`` (Kaplan-Meier
time transform; ``ferroscope.phtest``), and where it fails (p < 0.05) the HR before and after
the median event time (time-split fit); covariates, when given, add an adjusted HR per SD from
a multivariable model (lifelines ``CoxPHFitter`` Newton-polished by ``fit_cox``; complete
cases, the number dropped is reported). ``cox_per_sd`` is one score with every statistic.

Kaplan-Meier comparisons: median split and tertiles (log-rank), and the optimised cut-point by
maximally selected log-rank statistics (``maxstat_logrank``) with the Lausen & Schumacher (1994)
p-value corrected for the search over cut-points, as R ``maxstat`` (``pmethod = "Lau94"``).
Time-dependent AUC at fixed horizons: scikit-survival's ``cumulative_dynamic_auc`` arithmetic
for all detail scores on one shared bootstrap index matrix (percentile CI).

Degenerate inputs do not raise: the result carries ``status = "not tested"`` and a ``note``
saying why, so the report can show the reason in place.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test
from scipy.stats import norm

from .phtest import cox_zph

FIT_OPTIONS = {"precision": 1e-10, "max_steps": 200}
#: Newton-Raphson polishing after lifelines' own stop (see ``_fit``): one pure Newton step per
#: refit until the step (standardised coefficients) is below POLISH_STEP.
POLISH_OPTIONS = {"precision": 0.0, "r_precision": 0.0, "step_size": 1.0, "max_steps": 2}
POLISH_STEP = 1e-12
POLISH_ROUNDS = 10
TD_AUC_MONTHS = (12.0, 36.0, 60.0)
#: Length of one month in each time unit the API accepts (1 month = 30.4375 days).
UNIT_PER_MONTH = {"days": 30.4375, "weeks": 30.4375 / 7, "months": 1.0, "years": 1 / 12}


def td_auc_fields(months: float) -> tuple[str, str, str]:
    """Column names of the time-dependent AUC at a horizon (months): value, CI low, CI high."""
    base = f"td_auc_{months:g}"
    return base, f"{base}_ci_low", f"{base}_ci_high"


def td_auc_failed_field(months: float) -> str:
    """Column counting the bootstrap resamples where the horizon was not estimable."""
    return f"td_auc_{months:g}_boot_failed"


#: Statistics of the detail tier (empty for rows of the screening tier; ``survival_table``).
DETAIL_FIELDS = ("ph_p", "km_tertile_p", "maxstat_cutpoint", "maxstat_statistic", "maxstat_p",
                 "hr_early", "hr_late", "split_months", "hr_adj", "ci_low_adj", "ci_high_adj",
                 "p_adj", "n_adj")


@dataclass
class SurvivalResult:
    """One score x endpoint: the fields below are the columns of the survival table.

    Time-dependent AUCs live in ``td_auc`` ({column: value}); ``as_dict`` flattens them with one
    column triple per horizon of ``TD_AUC_MONTHS`` (empty where not estimable), and attribute
    access (``res.td_auc_12``) reads them, so a new horizon is a new column, never dropped.
    """

    n: int = 0
    events: int = 0
    hr: float = np.nan
    ci_low: float = np.nan
    ci_high: float = np.nan
    log_hr: float = np.nan
    se_log_hr: float = np.nan
    p_wald: float = np.nan
    p_lr: float = np.nan
    c_index: float = np.nan
    ph_p: float = np.nan
    km_logrank_p: float = np.nan
    km_median_high: float = np.nan
    km_median_low: float = np.nan
    km_tertile_p: float = np.nan
    maxstat_cutpoint: float = np.nan
    maxstat_statistic: float = np.nan
    maxstat_p: float = np.nan
    hr_early: float = np.nan
    hr_late: float = np.nan
    split_months: float = np.nan
    hr_adj: float = np.nan
    ci_low_adj: float = np.nan
    ci_high_adj: float = np.nan
    p_adj: float = np.nan
    n_adj: int = 0
    covariates: str = ""
    td_auc: dict[str, float] = field(default_factory=dict)
    tier: str = "detail"
    status: str = "ok"
    note: str = ""

    def __getattr__(self, name: str) -> float:
        if name.startswith("td_auc_"):
            return self.__dict__.get("td_auc", {}).get(name, np.nan)
        raise AttributeError(name)

    def as_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclass_fields(self)}  # asdict deep-copies
        aucs = d.pop("td_auc")
        tier, status, note = d.pop("tier"), d.pop("status"), d.pop("note")
        for t in TD_AUC_MONTHS:
            for col in (*td_auc_fields(t), td_auc_failed_field(t)):
                d[col] = aucs.get(col, np.nan)
        return {**d, "tier": tier, "status": status, "note": note}


def _clean(time: pd.Series, event: pd.Series, score: pd.Series) -> pd.DataFrame:
    df = pd.DataFrame({"time": time, "event": event, "score": score}).dropna()
    return df.astype(float)


def fit_cox(df: pd.DataFrame, **kwargs: object) -> CoxPHFitter:
    """Efron-ties Cox fit (lifelines), Newton-Raphson polished to R ``coxph``'s optimum.

    lifelines stops when its Newton decrement g' H^-1 g / 2 falls below ``precision``, which
    leaves a last step of order 1e-7 (coefficients 1e-7 relative, p-values 1e-6 from R). The
    fit is therefore continued from lifelines' estimate with pure Newton steps
    beta <- beta + H^-1 g on lifelines' own partial log-likelihood (one step per refit with
    ``initial_point``), until the step in standardised coefficients is below ``POLISH_STEP``
    (1e-12; Newton converges quadratically, so 2-3 steps). SE (inverse Hessian), Wald and
    likelihood-ratio statistics then follow from the converged estimate, as in R's
    ``coxph`` (Therneau & Grambsch 2000, ch. 3). The null log-likelihood is the first fit's
    (evaluated at beta = 0, exact). ``cph.polish_step_`` records the last step taken.
    """
    def fit(options: dict, initial: np.ndarray | None = None) -> CoxPHFitter:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return CoxPHFitter().fit(df, duration_col="time", event_col="event",
                                     fit_options=options, initial_point=initial, **kwargs)

    first = fit(FIT_OPTIONS)
    cph = first
    beta = (first.params_ * first._norm_std).to_numpy(dtype=float)
    step = np.inf
    for _ in range(POLISH_ROUNDS):
        if not np.all(np.isfinite(beta)):
            break
        nxt = fit(POLISH_OPTIONS, beta.copy())
        new = (nxt.params_ * nxt._norm_std).to_numpy(dtype=float)
        step = float(np.max(np.abs(new - beta))) if new.size else 0.0
        if not np.isfinite(step):
            break
        cph, beta = nxt, new
        if step < POLISH_STEP:
            break
    # the null log-likelihood at beta = 0 (first fit); a refit from a non-zero start would
    # recompute it through lifelines' trivial model, which is not the Efron null likelihood.
    cph._model._ll_null_ = first._model._ll_null_
    cph.polish_step_ = step
    return cph


def _finite(values: dict[str, float]) -> bool:
    return all(np.isfinite(v) for v in values.values())


def cox_per_sd(time: pd.Series, event: pd.Series, score: pd.Series, *,
               min_events: int = 10, covariates: pd.DataFrame | None = None,
               td_auc: bool = True, n_boot: int = 200, seed: int = 0,
               time_unit: str = "months") -> SurvivalResult:
    """Univariate (and covariate-adjusted) Cox model of survival on the standardised score.

    One score, every statistic (screening and detail tier): ``survival_table`` of a
    one-column frame. ``time_unit`` is the unit of ``time`` (days, weeks, months, years): notes
    name it, the time-dependent AUC horizons (``TD_AUC_MONTHS``) are converted to it and
    ``split_months`` is reported in months whatever the input unit.
    """
    name = score.name if score.name is not None else "score"
    frame = pd.DataFrame({name: score})
    return survival_table(time, event, frame, min_events=min_events, covariates=covariates,
                          td_auc=td_auc, n_boot=n_boot, seed=seed, time_unit=time_unit)[name]


def survival_table(time: pd.Series, event: pd.Series, scores: pd.DataFrame, *,
                   min_events: int = 10, covariates: pd.DataFrame | None = None,
                   detail: Iterable[str] | None = None, td_auc: bool = True,
                   n_boot: int = 200, seed: int = 0, time_unit: str = "months"
                   ) -> dict[str, SurvivalResult]:
    """Survival statistics of every score (column of ``scores``, samples as rows), two tiers.

    Screening tier, every score at once (``ferroscope.batchstats``): Cox HR per SD with its
    95% CI, Wald and LR p, Harrell's C, KM median split (log-rank p, medians). Detail tier,
    for the scores named in ``detail`` (None: all): PH test (with the time-split HR when it
    fails), KM tertiles, maxstat cut-point, the covariate-adjusted HR and the time-dependent
    AUC with bootstrap CIs, one resample index matrix shared by every score. Detail fields of
    screening rows are empty (NaN). Returns {score name: SurvivalResult}.
    """
    if time_unit not in UNIT_PER_MONTH:
        raise ValueError(f"time_unit must be one of {sorted(UNIT_PER_MONTH)}, not {time_unit!r}")
    from .batchstats import cox_efron, logrank_median_split

    time = pd.Series(time, index=scores.index) if not isinstance(time, pd.Series) else time
    event = pd.Series(event, index=scores.index) if not isinstance(event, pd.Series) else event
    cox = cox_efron(time, event, scores, min_events=min_events)
    km = logrank_median_split(time, event, scores)
    wanted = set(scores.columns if detail is None else detail)
    in_detail = [c for c in scores.columns if c in wanted]
    tested = [c for c in in_detail if cox.at[c, "status"] == "ok"]
    aucs = td_auc_table(time, event, scores[tested], n_boot=n_boot, seed=seed,
                        time_unit=time_unit) if td_auc and tested else {}
    ph = ph_test(time, event, scores[tested], cox.loc[tested]) if tested else {}
    screening = dict.fromkeys(DETAIL_FIELDS, np.nan)
    out = {}
    cox_rows, km_rows = cox.to_dict("index"), km.to_dict("index")
    for col in scores.columns:
        row = cox_rows[col]
        tier = "detail" if col in wanted else "screening"
        base = {"n": int(row["n"]), "events": int(row["events"]), "tier": tier}
        if tier == "screening":
            base.update(screening)
        if row["status"] != "ok":
            out[col] = SurvivalResult(**base, status="not tested", note=row["note"])
            continue
        fields: dict = {**base, **{k: float(row[k]) for k in (
            "log_hr", "se_log_hr", "hr", "ci_low", "ci_high", "p_wald", "p_lr", "c_index")}}
        k = km_rows[col]
        if not k["km_note"]:
            fields.update({key: float(k[key]) for key in
                           ("km_logrank_p", "km_median_high", "km_median_low")})
        notes = []
        if tier == "detail":
            fields_d, notes = _detail(time, event, scores[col], ph[col], k["km_note"],
                                      covariates, min_events, time_unit)
            fields.update(fields_d)
        else:
            notes = [k["km_note"]]
        out[col] = SurvivalResult(**fields, td_auc=aucs.get(col, {}),
                                  note="; ".join(n for n in notes if n))
    return out


def ph_test(time: pd.Series, event: pd.Series, scores: pd.DataFrame,
            cox: pd.DataFrame) -> pd.Series:
    """Proportional-hazards p of every score's univariate fit (``cox``: ``cox_efron`` rows).

    R ``cox.zph`` (KM transform) as ``univariate_cox`` computes it, for all scores at once
    (``ferroscope.phtest.cox_zph_batch``) on each score's per-SD z; a score with missing values
    is tested on its complete cases.
    """
    from .batchstats import standardise
    from .phtest import cox_zph_batch

    keep = (time.notna() & event.notna()).to_numpy()
    t, e = time.to_numpy(float)[keep], event.to_numpy(float)[keep]
    z = standardise(scores[keep])[0]
    beta = cox["log_hr"].reindex(z.columns).to_numpy(float)
    out = pd.Series(np.nan, index=z.columns, name="ph_p")
    full = z.notna().all().to_numpy()
    if full.any():
        out.iloc[full] = cox_zph_batch(t, e, z.loc[:, full].to_numpy().T, beta[full])[1]
    for j in np.flatnonzero(~full):
        m = z.iloc[:, j].notna().to_numpy()
        out.iloc[j] = cox_zph_batch(t[m], e[m], z.iloc[:, j].to_numpy()[m][None, :],
                                    beta[j:j + 1])[1][0]
    return out


def _detail(time: pd.Series, event: pd.Series, score: pd.Series, ph_p: float, km_note: str,
            covariates: pd.DataFrame | None, min_events: int,
            time_unit: str) -> tuple[dict, list[str]]:
    """Detail-tier statistics of one score with a converged Cox fit: (fields, notes)."""
    df = _clean(time, event, score)
    df["z"] = (df["score"] - df["score"].mean()) / df["score"].std(ddof=1)
    data = df[["time", "event", "z"]]
    fields: dict = {"ph_p": float(ph_p)}
    notes = []
    if fields["ph_p"] < 0.05:
        split = time_split(data, time_unit)
        fields.update(split)
        notes.append("proportional hazards questionable (cox.zph p < 0.05): see HR before "
                     f"and after {split['split_months'] * UNIT_PER_MONTH[time_unit]:.1f} "
                     f"{time_unit}")
    notes.append(km_note)
    fields.update(km_tertiles(df))
    ms = maxstat_logrank(df["time"], df["event"], df["score"])
    if ms is not None:
        fields.update(maxstat_statistic=ms[0], maxstat_cutpoint=ms[1], maxstat_p=ms[2])
    if covariates is not None and covariates.shape[1] > 0:
        adj, adj_notes = adjusted(df, covariates, min_events)
        fields.update(adj)
        notes += adj_notes
    return fields, notes


def univariate_cox(data: pd.DataFrame) -> dict[str, float]:
    """HR per SD with 95% Wald CI, Wald and LR p, C-index and the PH test (R ``cox.zph``)."""
    cph = fit_cox(data)
    ph = cox_zph(data["time"], data["event"], data[["z"]], cph.params_[["z"]].to_numpy())
    row = cph.summary.loc["z"]
    return {"log_hr": float(row["coef"]), "se_log_hr": float(row["se(coef)"]),
            "hr": float(row["exp(coef)"]), "ci_low": float(row["exp(coef) lower 95%"]),
            "ci_high": float(row["exp(coef) upper 95%"]), "p_wald": float(row["p"]),
            "p_lr": float(cph.log_likelihood_ratio_test().p_value),
            "c_index": float(cph.concordance_index_),
            "ph_p": float(ph.loc["z", "p"])}


def time_split(data: pd.DataFrame, time_unit: str = "months") -> dict[str, float]:
    """HR per SD before and after the median event time (episode split).

    Early: follow-up censored at the split; late: the patients still at risk after it (all
    entering at the split, so their risk sets are those of the subset). Each part is fitted by
    the batch engine on the cohort's z (no re-standardisation) when it has 5 events or more.
    ``split_months`` is that time in months (``time`` is in ``time_unit``).
    """
    from .batchstats import cox_efron

    split = float(data.loc[data["event"] == 1, "time"].median())
    early = data.assign(event=np.where(data["time"] > split, 0, data["event"]),
                        time=np.minimum(data["time"], split))
    late = data[data["time"] > split]
    out = {"split_months": split / UNIT_PER_MONTH[time_unit], "hr_early": np.nan, "hr_late": np.nan}
    for part, key in ((early, "hr_early"), (late, "hr_late")):
        if part["event"].sum() >= 5:
            fit = cox_efron(part["time"], part["event"], part[["z"]], min_events=5,
                            per_sd=False).loc["z"]
            out[key] = float(fit["hr"]) if fit["status"] == "ok" else np.nan
    return out


def adjusted(df: pd.DataFrame, covariates: pd.DataFrame,
             min_events: int) -> tuple[dict[str, float | int | str], list[str]]:
    """Multivariable Cox: score (per SD) + covariates, complete cases. Returns fields, notes."""
    cov = covariates.reindex(df.index)
    complete = cov.notna().all(axis=1) & (cov.astype(str) != "").all(axis=1)
    dropped = int((~complete).sum())
    sub = df.loc[complete, ["time", "event", "z"]]
    design = pd.get_dummies(cov.loc[complete], drop_first=True, dtype=float)
    design = design.loc[:, design.std() > 0]
    out: dict[str, float | int | str] = {"covariates": ", ".join(map(str, covariates.columns))}
    if sub["event"].sum() < min_events or design.shape[1] == 0:
        return out, [f"adjusted model not fitted ({int(sub['event'].sum())} events in "
                     f"{len(sub)} complete cases)"]
    fit = fit_cox(pd.concat([sub, design], axis=1))
    row = fit.summary.loc["z"]
    est = {"hr_adj": float(row["exp(coef)"]), "ci_low_adj": float(row["exp(coef) lower 95%"]),
           "ci_high_adj": float(row["exp(coef) upper 95%"]), "p_adj": float(row["p"])}
    if not _finite(est):
        return out, ["adjusted model did not converge to finite estimates"]
    out.update(est, n_adj=len(sub))
    return out, ([f"adjusted model: {dropped} patients with missing covariates dropped"]
                 if dropped else [])


def time_dependent_auc(df: pd.DataFrame, *, n_boot: int = 200, seed: int = 0,
                       time_unit: str = "months") -> dict[str, float]:
    """Cumulative/dynamic AUC of ``df["z"]`` at ``TD_AUC_MONTHS``, percentile bootstrap 95% CI.

    One score of ``td_auc_table`` (columns time, event, z).
    """
    return td_auc_table(df["time"], df["event"], df[["z"]], n_boot=n_boot, seed=seed,
                        time_unit=time_unit).get("z", {})


def td_auc_table(time: pd.Series, event: pd.Series, scores: pd.DataFrame, *,
                 n_boot: int = 200, seed: int = 0, time_unit: str = "months"
                 ) -> dict[str, dict[str, float]]:
    """Cumulative/dynamic AUC of every score at ``TD_AUC_MONTHS``, percentile bootstrap 95% CI.

    Apparent AUC of the score per SD (the score is not fitted, so there is nothing to
    overfit); censoring handled by inverse-probability weights (Uno et al. 2007) as in
    scikit-survival (``ferroscope.batchstats.td_auc_bootstrap``). The patients with a time and
    an event are resampled once (``n_boot`` x n index matrix from ``seed``) and every score is
    evaluated on the same resamples. A horizon is kept where it lies between the first time and
    the last event time; its CI needs at least 20 resamples in which it was estimable (the
    others are counted in ``td_auc_<months>_boot_failed``). Returns {score: {``td_auc_<months>``,
    ``..._ci_low``, ``..._ci_high``, ``..._boot_failed``}} for the estimable horizons.
    """
    from .batchstats import standardise, td_auc_bootstrap

    keep = time.notna() & event.notna()
    t, e = time[keep].astype(float), event[keep].astype(float)
    z = standardise(scores[keep])[0]
    per = UNIT_PER_MONTH[time_unit]
    if not len(t) or not (e == 1).any():
        return {}
    t_max = t[e == 1].max()
    months = [m for m in TD_AUC_MONTHS if t.min() < m * per < t_max]
    if not months:
        return {}
    rng = np.random.default_rng(seed)
    boot = rng.integers(0, len(t), (n_boot, len(t)))
    point, boots = td_auc_bootstrap(t.to_numpy(), e.to_numpy(), z, [m * per for m in months],
                                    boot)
    out: dict[str, dict[str, float]] = {}
    for j, col in enumerate(z.columns):
        if point[col].isna().all():
            continue
        d: dict[str, float] = {}
        for k, m in enumerate(months):
            vals = boots[:, k, j]
            good = vals[np.isfinite(vals)]
            lo, hi = (np.percentile(good, (2.5, 97.5)) if len(good) >= 20
                      else (np.nan, np.nan))
            auc_col, lo_col, hi_col = td_auc_fields(m)
            d.update({auc_col: float(point[col].iloc[k]), lo_col: float(lo), hi_col: float(hi),
                      td_auc_failed_field(m): float(n_boot - len(good))})
        out[col] = d
    return out


def maxstat_logrank(time: pd.Series, event: pd.Series, score: pd.Series, *,
                    minprop: float = 0.1, maxprop: float = 0.9
                    ) -> tuple[float, float, float] | None:
    """Maximally selected log-rank statistic, its cut-point and the Lau94 corrected p-value.

    Port of R maxstat 0.7-25 ``cmaxstat`` with log-rank scores from exactRankTests
    ``cscores.Surv`` (Lausen B, Schumacher M (1992) Biometrics 48:73-85; p-value bound of
    Lausen B, Sauerbrei W, Schumacher M (1994)). The cut-point c splits patients into
    score <= c and score > c; only cut-points leaving at least ``minprop`` and at most
    ``maxprop`` of the patients in the lower group are searched.
    """
    t = np.asarray(time, float)
    e = np.asarray(event, float)
    x = np.asarray(score, float)
    n = len(t)
    # log-rank scores: a_i = e_i - sum_{t_j <= t_i} e_j / (n - r_j + 1), r = max-tie rank
    order_t = np.argsort(t, kind="stable")
    max_rank = np.searchsorted(np.sort(t), t, side="right")
    fact = e / (n - max_rank + 1)
    cum = np.cumsum(fact[order_t])
    scores = e - cum[max_rank - 1]
    order_x = np.argsort(x, kind="stable")
    y = scores[order_x]
    xs = x[order_x]
    m = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])  # first index of each distinct value
    lo, hi = max(1, int(np.floor(n * minprop))), int(np.floor(n * maxprop))
    m = m[(m >= lo) & (m <= hi)]
    if len(m) == 0:
        return None
    ss = y.sum()
    expect = m / n * ss
    var = m * (n - m) / (n**2 * (n - 1)) * (n * np.sum(y**2) - ss**2)
    stats = np.abs((np.cumsum(y)[m - 1] - expect) / np.sqrt(var))
    best = int(np.argmax(stats))
    b = float(stats[best])
    return b, float(xs[m[best] - 1]), _p_lausen94(b, n, m)


def _p_lausen94(b: float, n: int, m: np.ndarray) -> float:
    """Lausen, Sauerbrei & Schumacher (1994) upper bound on P(max |Z| >= b) over cut-points."""
    d = 0.0
    if len(m) > 1:
        m1, m2 = m[:-1].astype(float), m[1:].astype(float)
        t = np.sqrt(1 - m1 * (n - m2) / ((n - m1) * m2))
        d = float(np.sum(1 / np.pi * np.exp(-b**2 / 2) * (t - (b**2 / 4 - 1) * t**3 / 6)))
    return float(min(1.0, 1 - (norm.cdf(b) - norm.cdf(-b)) + d))


def km_tertiles(df: pd.DataFrame) -> dict[str, float]:
    """Log-rank test across score tertiles ({} when a tertile has fewer than 10 patients).

    The k-group log-rank statistic U' V^-1 U over the first k - 1 groups (observed minus
    expected events, hypergeometric covariance; R ``survdiff``, lifelines
    ``multivariate_logrank_test``), chi-squared with k - 1 df.
    """
    groups = pd.qcut(df["score"].rank(method="first"), 3, labels=False)
    if groups.value_counts().min() < 10:
        return {}
    t, e = df["time"].to_numpy(float), df["event"].to_numpy(float)
    g = np.asarray(groups, dtype=int)
    times = np.unique(t[e == 1])
    at_risk = np.stack([(t[None, :] >= times[:, None]) & (g == k)[None, :] for k in range(3)],
                       axis=2).sum(axis=1).astype(float)               # (event times, k)
    died = np.stack([((t[None, :] == times[:, None]) & (e == 1)[None, :] & (g == k)[None, :])
                     .sum(axis=1) for k in range(3)], axis=1).astype(float)
    n, d = at_risk.sum(1), died.sum(1)
    frac = at_risk / n[:, None]
    u = (died - d[:, None] * frac).sum(0)[:2]
    w = np.where(n > 1, d * (n - d) / np.where(n > 1, n - 1, 1), 0.0)
    cov = (w[:, None, None] * (np.einsum("ij,jk->ijk", frac, np.eye(3))
                               - frac[:, :, None] * frac[:, None, :])).sum(0)[:2, :2]
    stat = float(u @ np.linalg.solve(cov, u))
    from scipy.stats import chi2

    return {"km_tertile_p": float(chi2.sf(stat, 2))}


def km_median_split(df: pd.DataFrame, min_group: int = 10) -> tuple[dict[str, float], str]:
    """Log-rank test and median survival above vs at-or-below the median score.

    Medians are in the unit of ``time``; a median not reached (the KM curve stays above 0.5)
    is NaN, written as an empty cell and shown as "not reached" in the report. Returns
    (fields, note).
    """
    high = df["score"] > df["score"].median()
    if min(high.sum(), (~high).sum()) < min_group:
        return {}, f"KM median split not tested: fewer than {min_group} patients per group"
    lr = logrank_test(df.loc[high, "time"], df.loc[~high, "time"],
                      df.loc[high, "event"], df.loc[~high, "event"])
    out = {"km_logrank_p": float(lr.p_value)}
    for flag, key in ((high, "km_median_high"), (~high, "km_median_low")):
        kmf = KaplanMeierFitter().fit(df.loc[flag, "time"], df.loc[flag, "event"])
        median = float(kmf.median_survival_time_)
        out[key] = median if np.isfinite(median) else np.nan
    return out, ""


def km_curves(time: pd.Series, event: pd.Series, score: pd.Series) -> pd.DataFrame:
    """Step-function KM estimates per median-split group, for plotting.

    Columns: group (high/low), time, survival, at_risk.
    """
    df = _clean(time, event, score)
    high = df["score"] > df["score"].median()
    parts = []
    for label, flag in (("high", high), ("low", ~high)):
        if flag.sum() == 0:
            continue
        kmf = KaplanMeierFitter().fit(df.loc[flag, "time"], df.loc[flag, "event"])
        tab = kmf.event_table
        parts.append(pd.DataFrame({
            "group": label, "time": kmf.survival_function_.index.to_numpy(),
            "survival": kmf.survival_function_.iloc[:, 0].to_numpy(),
            "at_risk": tab["at_risk"].reindex(kmf.survival_function_.index).to_numpy(),
        }))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["group", "time", "survival", "at_risk"])


def median_followup(time: pd.Series, event: pd.Series) -> float:
    """Median follow-up by the reverse Kaplan-Meier method (censoring as the event)."""
    df = pd.DataFrame({"t": time, "e": event}).dropna()
    if df.empty or (df["e"] == 1).all():
        return float("nan")
    kmf = KaplanMeierFitter().fit(df["t"], 1 - df["e"])
    return float(kmf.median_survival_time_)


def at_risk_table(time: pd.Series, event: pd.Series, score: pd.Series,
                  times: list[float]) -> pd.DataFrame:
    """Numbers at risk (time >= t) per median-split group at the given times."""
    df = _clean(time, event, score)
    high = df["score"] > df["score"].median()
    rows = {label: [int((df.loc[flag, "time"] >= t).sum()) for t in times]
            for label, flag in (("high", high), ("low", ~high))}
    return pd.DataFrame(rows, index=pd.Index(times, name="time")).T
