"""Published coefficient signatures: reading, checking and scoring.

A signature file (``resources/signatures/*.tsv``) is a TSV of ``gene``/``coefficient`` rows
preceded by a commented YAML header (lines starting with ``# ``) that declares where the numbers
come from::

    # name: LIANG2020_10GENE
    # citation: "Liang JY et al. Int J Biol Sci 2020;16:2430. doi:10.7150/ijbs.45050"
    # endpoint: os
    # scale: log2              # log2 | zscore | training_zscore: the scale the coefficients
    #                          # apply to
    # cutoff: cohort_median    # cohort_median, or a number on the risk scale
    # coefficients_source: "table 2 of the paper"
    # checked: "what was checked against the paper, and when"
    gene	coefficient
    GPX4	0.135

The risk score is the weighted sum ``r_i = sum_g beta_g x_gi`` over the signature genes present,
with ``x`` the cohort's prepared log2 matrix (``scale: log2``) or genes standardised within the
cohort (``scale: zscore``), or standardised with fixed means and SDs given as two more table
columns ``train_mean`` and ``train_sd`` (``scale: training_zscore``: a model frozen with
``validation_scaling: training``, a true lock for cohorts of the training cohort's platform).
Genes are looked up through the project's alias table (papers write
``CARS`` for ``CARS1``). A signature whose missing genes carry a share of the coefficients
``sum_missing |beta| / sum |beta|`` above the configured bound is not scored: the score would be
a different model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from .errors import FerroscopeError
from .genesets import AliasTable
from .io import PathLike

REQUIRED_META = ("name", "citation", "endpoint", "scale", "cutoff", "coefficients_source",
                 "checked")
SCALES = ("log2", "zscore", "training_zscore")
#: table columns of a ``training_zscore`` signature besides gene and coefficient
SCALING_COLUMNS = ("train_mean", "train_sd")
CUTOFF_MEDIAN = "cohort_median"


@dataclass(frozen=True)
class Signature:
    """A published signature: coefficients per HGNC symbol plus its declared provenance."""

    name: str
    coefficients: pd.Series          # index gene (HGNC after aliases), float coefficients
    meta: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    scaling: pd.DataFrame | None = None   # training_zscore: train_mean, train_sd per gene

    @property
    def scale(self) -> str:
        return str(self.meta["scale"])

    @property
    def cutoff(self) -> str | float:
        return self.meta["cutoff"]


@dataclass
class SignatureScore:
    """Result of applying a signature to one cohort."""

    name: str
    risk: pd.Series                  # per sample (empty when not scored)
    present: list[str]
    missing: list[str]
    missing_share: float
    scored: bool
    reason: str = ""


def read_signature(path: PathLike, aliases: AliasTable | None = None) -> Signature:
    """Read and check one signature file (header keys, numeric coefficients, unique genes)."""
    p = Path(path)
    if not p.exists():
        raise FerroscopeError("signature file does not exist.", file=str(p), field="signatures",
                              fix="list files under resources/signatures/ in config signatures.")
    lines = p.read_text(encoding="utf-8").splitlines()
    header = "\n".join(ln[2:] if ln.startswith("# ") else ln[1:]
                       for ln in lines if ln.startswith("#"))
    try:
        meta = yaml.safe_load(header) or {}
    except yaml.YAMLError as err:
        raise FerroscopeError(f"the commented YAML header does not parse ({err}).", file=str(p),
                              fix="write header lines as '# key: value'.") from None
    if not isinstance(meta, dict):
        raise FerroscopeError("the commented header is not a 'key: value' mapping.", file=str(p),
                              fix="write header lines as '# key: value'.")
    for key in REQUIRED_META:
        if meta.get(key) in (None, ""):
            raise FerroscopeError("signature header key missing.", file=str(p), field=key,
                                  fix=f"add a line '# {key}: ...' to the header (see README).")
    if meta["scale"] not in SCALES:
        raise FerroscopeError(f"scale {meta['scale']!r} is not one of {', '.join(SCALES)}.",
                              file=str(p), field="scale",
                              fix="declare the expression scale the coefficients apply to.")
    cut = meta["cutoff"]
    if cut != CUTOFF_MEDIAN and not isinstance(cut, int | float):
        raise FerroscopeError(f"cutoff {cut!r} is neither {CUTOFF_MEDIAN} nor a number.",
                              file=str(p), field="cutoff",
                              fix=f"use '{CUTOFF_MEDIAN}' or the paper's fixed risk cut-off.")
    body = [ln for ln in lines if ln.strip() and not ln.startswith("#")]
    rows = [ln.split("\t") for ln in body]
    training = meta["scale"] == "training_zscore"
    want = ["gene", "coefficient", *(SCALING_COLUMNS if training else ())]
    if not rows or [c.strip() for c in rows[0][:len(want)]] != want:
        raise FerroscopeError(f"table header must be '{'<TAB>'.join(want)}'.", file=str(p),
                              field="gene", fix=f"start the table with "
                                                f"'{'<TAB>'.join(want)}'.")
    genes, values = [], []
    for k, r in enumerate(rows[1:], start=2):
        try:
            nums = [float(v) for v in r[1:len(want)]]
        except ValueError:
            nums = []
        if len(nums) != len(want) - 1:
            raise FerroscopeError(f"row {k} has no numeric {' and '.join(want[1:])} ({r!r}).",
                                  file=str(p), field="coefficient",
                                  fix="one 'GENE<TAB>number' per row" + (
                                      "<TAB>train_mean<TAB>train_sd" if training else "")
                                  + ".")
        if not np.all(np.isfinite(nums)) or (training and nums[2] <= 0):
            raise FerroscopeError(f"row {k}: coefficient{' or scaling' if training else ''} "
                                  "is not finite" + (" (or train_sd <= 0)" if training else "")
                                  + ".", file=str(p), field="coefficient",
                                  fix="give finite numbers (a positive train_sd).")
        gene = r[0].strip()
        genes.append(aliases(gene) if aliases is not None else gene)
        values.append(nums)
    dup = sorted({g for g in genes if genes.count(g) > 1})
    if dup:
        raise FerroscopeError(f"genes listed twice (after aliases): {', '.join(dup)}.",
                              file=str(p), field="gene", fix="keep one row per gene.")
    if not genes:
        raise FerroscopeError("signature has no genes.", file=str(p), field="gene",
                              fix="add 'GENE<TAB>coefficient' rows.")
    table = pd.DataFrame(values, index=pd.Index(genes, name="gene"), columns=want[1:])
    return Signature(str(meta["name"]), table["coefficient"], meta, str(p),
                     table[list(SCALING_COLUMNS)] if training else None)


def missing_share(coefficients: pd.Series, missing: list[str]) -> float:
    """sum_{missing} |beta| / sum |beta| (0 when nothing is missing)."""
    total = float(coefficients.abs().sum())
    return float(coefficients.loc[missing].abs().sum() / total) if total > 0 else 1.0


def score_signature(expr: pd.DataFrame, sig: Signature, *, max_missing_share: float
                    ) -> SignatureScore:
    """Weighted sum of the signature genes on a genes x samples matrix (declared scale).

    Genes absent from the matrix, or constant in it, are missing; the signature is scored only if
    their share of sum |beta| is at most ``max_missing_share``.
    """
    from .scoring import unusable_genes

    unusable = unusable_genes(expr)
    variable = [g for g in expr.index if g not in unusable]
    present = [g for g in sig.coefficients.index if g in variable]
    missing = [g for g in sig.coefficients.index if g not in variable]
    share = missing_share(sig.coefficients, missing)
    empty = pd.Series(dtype=float, name=sig.name)
    if share > max_missing_share:
        return SignatureScore(sig.name, empty, present, missing, share, False,
                              f"missing genes carry {100 * share:.1f}% of sum |coefficient| "
                              f"(> signatures.max_missing_share = {100 * max_missing_share:g}%):"
                              f" {', '.join(missing)}")
    x = expr.loc[present].astype(float)
    if sig.scale == "zscore":
        x = x.sub(x.mean(axis=1), axis=0).div(x.std(axis=1, ddof=0), axis=0)
    elif sig.scale == "training_zscore" and sig.scaling is not None:
        scaling = sig.scaling.loc[present]
        x = x.sub(scaling["train_mean"], axis=0).div(scaling["train_sd"], axis=0)
    risk = x.T @ sig.coefficients.loc[present]
    risk.name = sig.name
    return SignatureScore(sig.name, risk, present, missing, share, True,
                          f"missing: {', '.join(missing)}" if missing else "")


def signature_cutpoint(sig: Signature, risk: pd.Series) -> float:
    """The cut-off rule of the paper: the cohort's median risk, or its fixed value."""
    return float(risk.median()) if sig.cutoff == CUTOFF_MEDIAN else float(sig.cutoff)


@dataclass
class RiskTables:
    """Everything the risk-signature stage writes."""

    statistics: pd.DataFrame
    scores: pd.DataFrame
    coverage: pd.DataFrame
    calibration: pd.DataFrame
    #: smoothed calibration curves at 3 years: cohort, signature, role, predicted, observed
    curve: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["cohort", "signature", "role", "predicted", "observed"]))


METHOD = "signature"


def evaluate(cohorts: dict[str, tuple[pd.DataFrame, pd.DataFrame]], sigs: list[Signature], *,
             max_missing_share: float, endpoints: dict[str, str] | None = None,
             min_events: int = 10, n_boot: int = 200, seed: int = 12,
             seeds: dict[str, int] | None = None) -> RiskTables:
    """Score every signature in every cohort and validate it (locked).

    ``cohorts``: id -> (genes x samples expression, clinical table indexed by sample).
    A signature with ``training_cohort`` in its header is a frozen trained model: its row in
    that cohort is the (optimistic) training fit, analysis ``cox_hr_per_sd_training``, kept out
    of the pooled estimate and of every FDR family (shown with its p, no q:
    ``statistics.add_fdr``); every other row has analysis ``cox_hr_per_sd`` and joins the
    random-effects pooling and the FDR family of method ``signature``. ``seeds``: bootstrap
    seed per signature (a trained model's ``models.<name>.seed``); others use ``seed``.
    """
    from .riskmodel import validate_risk
    from .statistics import survival_rows

    endpoints = endpoints or {}
    stats, scores, cover, calib, curves = [], [], [], [], []
    for sig in sigs:
        ep = endpoints.get(sig.name, str(sig.meta.get("endpoint", "os")))
        trained_in = sig.meta.get("training_cohort")
        s0 = (sig.meta.get("baseline_survival") or {}).get(36.0)
        for cid, (expr, clin) in cohorts.items():
            role = ("training" if cid == trained_in else
                    "validation" if trained_in else "published")
            sc = score_signature(expr, sig, max_missing_share=max_missing_share)
            cover.append({"cohort": cid, "signature": sig.name, "n_genes": len(sig.coefficients),
                          "n_present": len(sc.present), "missing": ", ".join(sc.missing),
                          "missing_share": sc.missing_share, "scored": sc.scored,
                          "reason": sc.reason})
            base = {"cohort": cid, "method": METHOD, "set": sig.name, "endpoint": ep,
                    "analysis": "cox_hr_per_sd_training" if role == "training"
                    else "cox_hr_per_sd", "role": role, "missing_share": sc.missing_share,
                    "missing_genes": ", ".join(sc.missing)}
            if f"{ep}_time_months" not in clin.columns:
                # like the survival step: no rows for an endpoint the cohort does not map (the
                # report's cohort section says which endpoints a cohort lacks)
                continue
            if not sc.scored:
                stats.append({**base, "status": "not tested", "note": sc.reason})
                continue
            cl = clin.reindex(sc.risk.index)
            cut = signature_cutpoint(sig, sc.risk)
            val = validate_risk(cl[f"{ep}_time_months"], cl[f"{ep}_event"], sc.risk,
                                cutpoint=cut, baseline_s36=s0, min_events=min_events,
                                n_boot=n_boot, seed=(seeds or {}).get(sig.name, seed))
            row = survival_rows({(sig.name, ep): val.survival}, cid, METHOD).iloc[0].to_dict()
            notes = [n for n in (row.get("note", ""), sc.reason, *val.notes) if n]
            if role == "training":
                notes.insert(0, "training cohort: optimistic (the model was fitted here)")
            if trained_in and s0 is None:
                notes.append("no calibration at 36 months: the model has no baseline survival "
                             "there (training follow-up too short)")
            row.update(base, **val.as_dict(), note="; ".join(notes))
            stats.append(row)
            scores.append(pd.DataFrame({"cohort": cid, "signature": sig.name, "role": role,
                                        "sample_id": sc.risk.index, "risk": sc.risk.to_numpy(),
                                        "group": np.where(sc.risk > cut, "high", "low")}))
            if not val.calibration.empty:
                calib.append(val.calibration.assign(cohort=cid, signature=sig.name, role=role))
            if not val.curve.empty:
                curves.append(val.curve.assign(cohort=cid, signature=sig.name, role=role))
    table = pd.DataFrame(stats)
    # the columns every per-cohort results table has, also when no signature could be tested
    from .checks import RESULT_COLUMNS

    table = table.reindex(columns=[*RESULT_COLUMNS,
                                   *(c for c in table.columns if c not in RESULT_COLUMNS)])
    return RiskTables(table,
                      pd.concat(scores, ignore_index=True) if scores else pd.DataFrame(
                          columns=["cohort", "signature", "role", "sample_id", "risk", "group"]),
                      pd.DataFrame(cover),
                      pd.concat(calib, ignore_index=True) if calib else pd.DataFrame(
                          columns=["cohort", "signature", "role", "group", "n", "predicted",
                                   "observed", "observed_ci_low", "observed_ci_high"]),
                      *([pd.concat(curves, ignore_index=True)[
                          ["cohort", "signature", "role", "predicted", "observed"]]]
                        if curves else []))


def load_risk_data(inputs: Any, cohorts: list[Any], not_trained: dict[str, str]) -> Any:
    """The report's risk-section data from the rule inputs (None when no signature is used)."""
    import json

    from .report import RiskData
    from .report_models import ModelsView

    if not hasattr(inputs, "risk_scores"):
        return None
    def read(path: str) -> pd.DataFrame:
        return pd.read_csv(path, sep="\t")

    paths = [*inputs.get("signatures", []), *[str(Path(m).with_name("signature.tsv"))
                                                 for m in inputs.get("risk_models", [])]]
    models = [json.loads(Path(m).read_text()) for m in inputs.get("risk_models", [])]
    return RiskData(scores=read(inputs.risk_scores), coverage=read(inputs.risk_coverage),
                    calibration=read(inputs.risk_calibration),
                    signatures=[read_signature(p) for p in paths], models=models,
                    clinical={c.cohort: c.clinical for c in cohorts},
                    not_trained=dict(not_trained),
                    models_view=ModelsView.read(list(inputs.get("risk_models", [])),
                                                inputs.get("risk_calibration_curve")))
