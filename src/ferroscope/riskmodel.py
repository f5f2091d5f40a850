"""Penalised Cox risk models: train in one cohort, freeze, validate locked in the others.

Training (:func:`train_coxnet`)
    Genes of the declared universe (:func:`model_universe`) are standardised in the training
    cohort (mean 0, population SD, i.e. divisor n as glmnet's ``standardize = TRUE``). The
    elastic-net Cox path and its penalty, chosen by repeated k-fold cross-validation of the
    partial likelihood as ``cv.glmnet(type.measure = "deviance", grouped = TRUE)`` (Simon et
    al. 2011, J Stat Softw 39:5; Verweij & van Houwelingen 1993, Stat Med 12:2305), are
    :mod:`ferroscope.coxnet` (formulas there). The frozen model (:class:`TrainedModel`:
    coefficients per training SD, training cut-point by the ``cutpoint`` rule: median, a
    quantile or a fixed value; Breslow baseline survival, empty past the last training
    follow-up) is written as a signature file with ``scale: zscore`` (or ``training_zscore``
    with the training means and SDs, ``validation_scaling: training``), so validation applies
    it exactly as a published signature. Every setting and default: :class:`ModelSettings`.

Validation
    :mod:`ferroscope.riskvalidation` (HR per SD, C-index, HR high vs low at the training
    cut-point, time-dependent AUC, calibration slope, O/E, smoothed calibration curve).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .coxnet import CVResult, cv_coxnet, selection_frequency, standardise
from .errors import FerroscopeError

BASELINE_MONTHS = (12.0, 36.0, 60.0)
SELECT = ("lambda_min", "lambda_1se")
VALIDATION_SCALING = ("within_cohort", "training")
CUTPOINT_RULES = ("median", "{quantile: q} with 0 < q < 1", "{value: x} on the risk scale")


@dataclass(frozen=True)
class ModelSettings:
    """Every setting of a penalised Cox model with its default: the one home of the defaults.

    The ``models`` block of ``workflow/schemas/config.schema.yaml`` states the same defaults
    (``tests/test_riskmodel.py`` reads both and checks they agree). :meth:`from_config` checks
    the values the schema cannot (a misspelt ``select``, ``cutpoint`` or
    ``validation_scaling`` stops with the allowed ones), so the package is safe to call
    without the workflow.
    """

    cohort: str = ""
    endpoint: str = "os"
    universe: str | tuple[str, ...] = "curated"
    l1_ratio: float = 1.0
    folds: int = 10
    cv_repeats: int = 10
    seed: int = 12
    select: str = "lambda_min"
    cutpoint: str | dict[str, float] = "median"
    validation_scaling: str = "within_cohort"

    @classmethod
    def from_config(cls, name: str, entry: dict[str, Any],
                    source: str = "config/config.yaml") -> ModelSettings:
        """Settings of ``models.<name>`` (missing keys take the defaults; unknown keys stop)."""
        known = set(cls.__dataclass_fields__)
        extra = sorted(set(entry) - known)
        if extra:
            raise FerroscopeError(f"model {name}: unknown key '{extra[0]}'.", file=source,
                                  field=f"models.{name}.{extra[0]}",
                                  fix=f"remove it or use one of: {', '.join(sorted(known))}.")
        values = dict(entry)
        if isinstance(values.get("universe"), list):
            values["universe"] = tuple(values["universe"])
        settings = cls(**values)
        settings.check(name, source)
        return settings

    def check(self, name: str = "model", source: str = "config/config.yaml") -> None:
        """Stop on a value outside the allowed ones, naming them."""
        def bad(key: str, value: Any, allowed: tuple[str, ...]) -> FerroscopeError:
            return FerroscopeError(f"model {name}: {key} {value!r} is not one of: "
                                   f"{', '.join(allowed)}.", file=source,
                                   field=f"models.{name}.{key}",
                                   fix=f"use one of: {', '.join(allowed)}.")
        if self.select not in SELECT:
            raise bad("select", self.select, SELECT)
        if self.validation_scaling not in VALIDATION_SCALING:
            raise bad("validation_scaling", self.validation_scaling, VALIDATION_SCALING)
        cut_rule(self.cutpoint, name=name, source=source)
        for key, low in (("folds", 3), ("cv_repeats", 1)):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise FerroscopeError(f"model {name}: {key} {value!r} is not an integer "
                                      f">= {low}.", file=source, field=f"models.{name}.{key}",
                                      fix=f"give an integer >= {low}.")


DEFAULTS = ModelSettings()


def cut_rule(cutpoint: Any, *, name: str = "model", source: str = "config/config.yaml"
             ) -> tuple[str, float]:
    """``(kind, number)`` of a cut-point setting: ("median", 0.5), ("quantile", q), ("value",
    x); anything else stops with the allowed forms."""
    if cutpoint == "median":
        return "median", 0.5
    if isinstance(cutpoint, dict) and len(cutpoint) == 1:
        (kind, value), = cutpoint.items()
        number = value if isinstance(value, int | float) and not isinstance(value, bool) \
            else np.nan
        if kind == "quantile" and 0 < number < 1:
            return "quantile", float(number)
        if kind == "value" and np.isfinite(number):
            return "value", float(number)
    raise FerroscopeError(f"model {name}: cutpoint {cutpoint!r} is not one of: "
                          f"{', '.join(CUTPOINT_RULES)}.", file=source,
                          field=f"models.{name}.cutpoint",
                          fix="use `cutpoint: median`, `cutpoint: {quantile: 0.67}` or "
                              "`cutpoint: {value: 0.5}`.")


def training_cutpoint(lp: np.ndarray, cutpoint: Any) -> tuple[float, str]:
    """The high/low cut-point on the training risk and a description of its rule."""
    kind, number = cut_rule(cutpoint)
    if kind == "median":
        return float(np.median(lp)), "median risk"
    if kind == "quantile":
        # numpy's default (linear) quantile = R's quantile(type = 7)
        return float(np.quantile(lp, number)), f"{number:g} quantile of the risk"
    return number, "fixed value"



@dataclass
class TrainedModel:
    """A frozen penalised Cox model."""

    name: str
    cohort: str
    coefficients: pd.Series              # per training SD, non-zero only
    train_mean: pd.Series
    train_sd: pd.Series
    cutpoint: float
    selected: str
    lambda_min: float
    lambda_1se: float
    cv: CVResult
    baseline_survival: dict[float, float]    # NaN past the last training follow-up
    n: int
    events: int
    n_universe: int
    settings: dict[str, Any] = field(default_factory=dict)
    risk: pd.Series = field(default_factory=pd.Series)
    selection: pd.Series = field(default_factory=pd.Series)   # per universe gene
    notes: list[str] = field(default_factory=list)

    @property
    def scale(self) -> str:
        """The signature file's scale: within-cohort or training standardisation."""
        return ("training_zscore" if self.settings.get("validation_scaling") == "training"
                else "zscore")

    def signature_text(self) -> str:
        """The frozen model as a signature file (commented YAML header + gene/coefficient)."""
        import yaml

        training = self.scale == "training_zscore"
        meta = {
            "name": self.name,
            "citation": f"trained by ferroscope in cohort {self.cohort}",
            "endpoint": self.settings.get("endpoint", "os"),
            "scale": self.scale,
            "scale_note": ("genes standardised with the training cohort's means and population "
                           "SDs (validation_scaling: training)" if training else
                           "genes standardised within each cohort (mean 0, population SD)"),
            "cutoff": float(self.cutpoint),
            "cutoff_note": f"{self.settings.get('cutpoint_rule', 'median risk')} in the "
                           f"training cohort {self.cohort}",
            "coefficients_source": f"LASSO/elastic-net Cox (l1_ratio "
                                   f"{self.settings.get('l1_ratio', 1.0)}) at {self.selected} "
                                   f"= {self.selected_lambda:.6g}",
            "checked": "frozen at training; applied unchanged in validation cohorts",
            "training_cohort": self.cohort,
            "baseline_survival": {float(k): (float(v) if np.isfinite(v) else None)
                                  for k, v in self.baseline_survival.items()},
        }
        head = "".join(f"# {ln}\n" for ln in yaml.safe_dump(meta, sort_keys=False).splitlines())
        if training:
            rows = "".join(f"{g}\t{c:.17g}\t{self.train_mean[g]:.17g}\t{self.train_sd[g]:.17g}\n"
                           for g, c in self.coefficients.items())
            return head + "gene\tcoefficient\ttrain_mean\ttrain_sd\n" + rows
        rows = "".join(f"{g}\t{c:.17g}\n" for g, c in self.coefficients.items())
        return head + "gene\tcoefficient\n" + rows

    def coefficient_table(self) -> pd.DataFrame:
        """Frozen coefficients per training SD and per log2 unit, with training mean and SD."""
        return pd.DataFrame({"gene": self.coefficients.index,
                             "coefficient": self.coefficients.to_numpy(),
                             "coefficient_per_unit": (self.coefficients
                                                      / self.train_sd).to_numpy(),
                             "train_mean": self.train_mean.to_numpy(),
                             "train_sd": self.train_sd.to_numpy(),
                             "selection_frequency": self.selection.reindex(
                                 self.coefficients.index).to_numpy()})

    def selection_table(self) -> pd.DataFrame:
        """Selection frequency over CV repeats of every universe gene ever selected, with its
        frozen coefficient (0 when not in the frozen model)."""
        sel = self.selection[self.selection > 0].sort_values(ascending=False, kind="stable")
        genes = list(dict.fromkeys([*sel.index, *self.coefficients.index]))
        coef = self.coefficients.reindex(genes).fillna(0.0)
        return pd.DataFrame({"gene": genes,
                             "selection_frequency": self.selection.reindex(genes).to_numpy(),
                             "in_model": (coef != 0).to_numpy(),
                             "coefficient": coef.to_numpy()})

    def summary(self) -> dict[str, Any]:
        """What model.json records: penalties, cut-point, baseline, sizes, settings."""
        def at(lam: float) -> int:
            return int(self.cv.nonzero[self.cv.alphas == lam][0])

        baseline = {str(k): (v if np.isfinite(v) else None)
                    for k, v in self.baseline_survival.items()}
        return {"name": self.name, "cohort": self.cohort, "selected": self.selected,
                "lambda_min": self.lambda_min, "lambda_1se": self.lambda_1se,
                "lambda": self.selected_lambda, "n_selected": len(self.coefficients),
                "nonzero_at_lambda_min": at(self.lambda_min),
                "nonzero_at_lambda_1se": at(self.lambda_1se),
                "lambda_min_repeats": [float(v) for v in self.cv.lambda_min_repeats],
                "lambda_1se_repeats": [float(v) for v in self.cv.lambda_1se_repeats],
                "nonzero_repeats": [at(v) for v in (self.cv.lambda_min_repeats
                                                    if self.selected == "lambda_min"
                                                    else self.cv.lambda_1se_repeats)],
                "cutpoint": self.cutpoint, "n": self.n, "events": self.events,
                "n_universe": self.n_universe,
                "baseline_survival": baseline,
                "standardisation": (
                    "genes standardised with the training cohort's means and population SDs "
                    "in every cohort (validation_scaling: training)"
                    if self.scale == "training_zscore" else
                    "genes standardised within each cohort: mean 0, population SD (divisor n)"
                ) + "; coefficients are per training SD",
                "ties": "Breslow", "notes": list(self.notes), **self.settings}

    @property
    def selected_lambda(self) -> float:
        return self.lambda_min if self.selected == "lambda_min" else self.lambda_1se


def baseline_at(survival: Any, horizons: tuple[float, ...], last_followup: float
                ) -> tuple[dict[float, float], list[str]]:
    """Breslow baseline survival at each horizon; NaN (with a note) past the last follow-up,
    where the step function is not estimated (it would silently repeat its last value)."""
    out, notes = {}, []
    for h in horizons:
        if h > last_followup:
            out[h] = np.nan
            notes.append(f"baseline survival at {h:g} months not estimated: the training "
                         f"follow-up ends at {last_followup:.1f} months")
        else:
            out[h] = float(survival(h))
    return out, notes


def train_coxnet(expr: pd.DataFrame, time: pd.Series, event: pd.Series, *, name: str,
                 cohort: str, universe: list[str], l1_ratio: float = DEFAULTS.l1_ratio,
                 n_folds: int = DEFAULTS.folds, cv_repeats: int = DEFAULTS.cv_repeats,
                 seed: int = DEFAULTS.seed, select: str = DEFAULTS.select,
                 cutpoint: str | dict[str, float] = DEFAULTS.cutpoint,
                 validation_scaling: str = DEFAULTS.validation_scaling, n_alphas: int = 100,
                 alpha_min_ratio: float | str = "auto", min_events: int = 10,
                 source: str = "config/config.yaml", endpoint: str = DEFAULTS.endpoint
                 ) -> TrainedModel:
    """Train a penalised Cox model on ``expr`` (genes x samples) restricted to ``universe``.

    Defaults are those of :class:`ModelSettings`; a value outside the allowed ones stops.
    """
    from sksurv.linear_model.coxph import BreslowEstimator

    ModelSettings(cohort=cohort, endpoint=endpoint, l1_ratio=l1_ratio, folds=n_folds,
                  cv_repeats=cv_repeats, seed=seed, select=select, cutpoint=cutpoint,
                  validation_scaling=validation_scaling).check(name, source)
    clin = pd.DataFrame({"time": time, "event": event}).dropna()
    samples = [s for s in expr.columns if s in clin.index]
    genes = [g for g in dict.fromkeys(universe) if g in expr.index]
    x = expr.loc[genes, samples].T.astype(float)
    x = x.loc[:, x.std(axis=0, ddof=0) > 0]
    clin = clin.loc[samples]
    n_events = int(clin["event"].sum())
    if n_events < min_events or x.shape[1] < 2:
        raise FerroscopeError(
            f"model {name}: {n_events} events and {x.shape[1]} variable universe genes in "
            f"{cohort}: too few to train.", file=source, field=f"models.{name}.cohort",
            fix=f"train in a cohort with at least {min_events} events and two or more genes.")
    z, mean, sd = standardise(x)
    t = clin["time"].to_numpy(float)
    e = clin["event"].to_numpy(float)
    cv, coef = cv_coxnet(z.to_numpy(), t, e, l1_ratio=l1_ratio, n_folds=n_folds, seed=seed,
                         n_alphas=n_alphas, alpha_min_ratio=alpha_min_ratio,
                         repeats=cv_repeats)
    lam = cv.lambda_min if select == "lambda_min" else cv.lambda_1se
    beta = coef[:, int(np.flatnonzero(cv.alphas == lam)[0])]
    coefs = pd.Series(beta, index=z.columns, name="coefficient")
    coefs = coefs[coefs != 0].sort_values(key=np.abs, ascending=False)
    if coefs.empty:
        raise FerroscopeError(
            f"model {name}: no gene has a non-zero coefficient at {select} = {lam:.4g} in "
            f"{cohort} (no prognostic signal the cross-validation trusts).", file=source,
            field=f"models.{name}.select",
            fix="use select: lambda_min, a larger universe, or another training cohort.")
    lp = z[coefs.index].to_numpy() @ coefs.to_numpy()
    risk = pd.Series(lp, index=z.index, name=name)
    baseline = BreslowEstimator().fit(lp, e.astype(bool), t)
    s0, notes = baseline_at(baseline.baseline_survival_, BASELINE_MONTHS, float(t.max()))
    cut, rule = training_cutpoint(lp, cutpoint)
    return TrainedModel(
        name=name, cohort=cohort, coefficients=coefs, train_mean=mean[coefs.index],
        train_sd=sd[coefs.index], cutpoint=cut, selected=select,
        lambda_min=cv.lambda_min, lambda_1se=cv.lambda_1se, cv=cv, baseline_survival=s0,
        n=len(t), events=n_events, n_universe=z.shape[1], risk=risk,
        selection=selection_frequency(cv, coef, list(z.columns), select), notes=notes,
        settings={"l1_ratio": l1_ratio, "n_folds": n_folds, "cv_repeats": cv_repeats,
                  "seed": seed, "cutpoint_setting": cutpoint, "cutpoint_rule": rule,
                  "validation_scaling": validation_scaling, "endpoint": endpoint})


def model_universe(sets: list[Any], universe: str | list[str], *, model: str,
                   gmt: str) -> list[str]:
    """Candidate genes: the union of every curated set, or of the named GMT sets."""
    by_name = {s.name: s for s in sets}
    if universe == "curated":
        chosen = list(by_name.values())
    else:
        unknown = [u for u in universe if u not in by_name]
        if unknown:
            raise FerroscopeError(f"model {model}: set(s) {', '.join(unknown)} not in {gmt}.",
                                  file="config/config.yaml", field=f"models.{model}.universe",
                                  fix=f"use set names of {gmt} ({', '.join(by_name)}) or "
                                      "'curated'.")
        chosen = [by_name[u] for u in universe]
    return list(dict.fromkeys(g for s in chosen for g in s.genes))
