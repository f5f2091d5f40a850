"""Gene-level answers: every member gene and seed gene against outcome, and which genes drive a set.

**Which genes.** By default (config ``genes: sets``) the member genes of every set scored in at
least one cohort, plus the seed genes of the curated table ``resources/genesets/genes.tsv``
(every gene named in the seed documents, so also the members of sets too small to score, such as
the 3-gene GSH-independent defence set AIFM2/DHODH/GCH1). ``genes: all`` adds every other usable
row of each cohort's matrix (the whole transcriptome). Members resolve to matrix rows exactly as
for set scoring (:func:`ferroscope.genesets.resolve_members`: approved symbol, then aliases;
never a row that is another gene's approved symbol). A gene of the universe missing from a
cohort's matrix gets a ``not tested`` row naming why.

**Statistics** (per cohort, all genes at once on the batch statistics engine
:mod:`ferroscope.batchstats`): per mapped survival endpoint, the Cox hazard ratio per SD of
expression (expression standardised within the cohort's patients with that endpoint, Efron
ties, Wald and likelihood-ratio p, Harrell's C) and the Kaplan-Meier median-split log-rank p;
for treatment response, the AUC with its DeLong CI and the Mann-Whitney p in the cohort's
response arm (:func:`ferroscope.response.treated_subset`, as for sets). Rows carry ``method =
"expression"``, ``analysis`` ``gene_cox_hr_per_sd`` or ``gene_auc`` and the gene symbol in
``gene``.

**A gene in several sets** is tested once per cohort x endpoint: the per-cohort table holds one
row per gene with ``set`` listing its sets (``;``-separated; ``(no set)`` for genes added by
``genes: all``). :func:`combine_genes` pools each gene across cohorts with the same
random-effects function as the sets (:func:`ferroscope.statistics.meta_analyse`), computes the
BH FDR over unique genes (its own family: per-cohort rows, pooled rows separately, as
:func:`ferroscope.statistics.add_fdr` does per method) and only then repeats each row once per
set it belongs to (``n_sets`` says how many), so ``set == "NRF2_TARGETS"`` selects a set's
genes while no test is counted twice in the FDR.

**Leave one gene out** (:func:`leave_one_out`): per cohort, for each scored set and each of its
members, the set scored without that member (a leave-one-out set is just another gene set: all
of them are scored with the full sets in one :func:`ferroscope.scoring.score_sets` call, so
ranks are computed once), fitted with the batch Cox engine for every mapped endpoint; beside it
the Pearson correlation of the member's expression with the full set score. A member whose
removal moves the set's HR towards 1 drives the association. Done with the report's primary
scoring method; above ``LOO_MAX_SETS`` leave-one-out sets (a large collection), only the sets
of the curated table are done, and the log says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .genesets import AliasTable, GeneSet, resolve_members
from .response import treated_subset
from .statistics import add_fdr, meta_analyse

log = logging.getLogger(__name__)

METHOD = "expression"
COX = "gene_cox_hr_per_sd"
AUC = "gene_auc"
#: ``set`` of a gene that belongs to no set (added by ``genes: all``)
NO_SET = "(no set)"
SET_SEP = ";"
#: the genes a translational reader asks about first (shown first in the report)
HEADLINE = ("STIM1", "KDELR3", "SLC7A11", "GPX4", "AIFM2", "DHODH", "GCH1", "NFE2L2")
#: leave-one-gene-out: above this many LOO sets only the curated table's sets are done
LOO_MAX_SETS = 5000
#: separator of a leave-one-out set's name (set, member)
LOO_SEP = "\x1f"
MODES = ("sets", "all")

COX_FIELDS = ("n", "events", "hr", "ci_low", "ci_high", "log_hr", "se_log_hr", "p_wald",
              "p_lr", "c_index", "km_logrank_p", "km_median_high", "km_median_low")
AUC_FIELDS = ("n", "n_responders", "n_non_responders", "auc", "ci_low", "ci_high", "se", "p_mwu")


# --- the batch statistics engine: every call of ferroscope.batchstats is here -------------------

def _cox(time: np.ndarray, event: np.ndarray, x: pd.DataFrame, min_events: int) -> pd.DataFrame:
    """Cox per SD and KM median split of every column of ``x`` (each on its complete cases)."""
    from . import batchstats

    cox = batchstats.cox_efron(time, event, x, min_events=min_events)
    km = batchstats.logrank_median_split(time, event, x)
    out = cox.join(km[["km_logrank_p", "km_median_high", "km_median_low"]])
    km_note = km["km_note"].astype(str)
    ok = (out["status"] == "ok") & (km_note != "")
    out.loc[ok, "note"] = km_note[ok]
    return out


def _auc(y: np.ndarray, x: pd.DataFrame, min_per_class: int) -> pd.DataFrame:
    """AUC (DeLong SE, CI) and Mann-Whitney p of every column of ``x`` for labels ``y``."""
    from . import batchstats

    out = batchstats.auc_delong(y, x, min_per_class=min_per_class)
    return out.rename(columns={"n_pos": "n_responders", "n_neg": "n_non_responders"})


# --- which genes ---------------------------------------------------------------------------------

def gene_universe(sets: Sequence[GeneSet], scored: Iterable[str], seeds: pd.DataFrame,
                  rows: Iterable[str], aliases: AliasTable | None = None, *,
                  unusable: Mapping[str, str] | None = None, mode: str = "sets") -> pd.DataFrame:
    """The genes analysed in one cohort and the matrix row each resolves to.

    ``sets``: every set of the GMT (alias-harmonised); ``scored``: names of the sets scored in
    any cohort; ``seeds``: the curated table (columns ``symbol``, ``set``); ``rows``: the
    cohort's matrix rows; ``unusable``: rows no method can use (constant, all missing) with the
    reason. Returns one row per gene (index ``gene``, in order: seed genes, then members, then
    with ``mode="all"`` the other matrix rows) with columns ``row`` (matrix row, None when
    missing), ``sets`` (``;``-joined: every GMT set holding the gene, then its curated-table
    sets), ``seed`` (bool) and ``reason`` (why the gene is missing).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    aliases = aliases or AliasTable()
    scored = set(scored)
    seed_syms = [aliases(str(s)) for s in seeds["symbol"]]
    seed_sets: dict[str, list[str]] = {}
    for sym, set_name in zip(seed_syms, seeds["set"].astype(str), strict=True):
        seed_sets.setdefault(sym, []).append(set_name)
    members = [g for gs in sets if gs.name in scored for g in gs.genes]
    genes = list(dict.fromkeys([*seed_syms, *members]))
    in_sets: dict[str, list[str]] = {}
    for gs in sets:
        for g in gs.genes:
            in_sets.setdefault(g, []).append(gs.name)
    # resolve over every GMT member and seed gene, so each protects its own approved symbol
    everyone = list(dict.fromkeys([*genes, *(g for gs in sets for g in gs.genes)]))
    res = resolve_members([GeneSet("universe", tuple(everyone))], rows, aliases,
                          unusable=unusable)
    out = pd.DataFrame({
        "row": [res[g].row for g in genes],
        "sets": [SET_SEP.join(dict.fromkeys([*in_sets.get(g, []), *seed_sets.get(g, [])]))
                 for g in genes],
        "seed": [g in seed_sets for g in genes],
        "reason": [res[g].reason for g in genes],
    }, index=pd.Index(genes, name="gene"))
    if mode == "all":
        taken = {r.row for r in res.values() if r.row is not None}
        bad = set(unusable or {})
        rest = [str(r) for r in rows if str(r) not in taken and str(r) not in bad
                and str(r) not in out.index]
        out = pd.concat([out, pd.DataFrame(
            {"row": rest, "sets": NO_SET, "seed": False, "reason": ""},
            index=pd.Index(rest, name="gene"))])
    out.loc[out["sets"] == "", "sets"] = NO_SET
    return out


def gene_matrix(expr: pd.DataFrame, universe: pd.DataFrame) -> pd.DataFrame:
    """Samples x genes: each found gene's matrix row (``expr`` is genes x samples), labelled by
    its symbol."""
    found = universe[universe["row"].notna()]
    x = expr.loc[found["row"].astype(str)].T
    x.columns = pd.Index(found.index, name="gene")
    return x.astype(np.float64)


# --- statistics ----------------------------------------------------------------------------------

def survival_table(x: pd.DataFrame, clinical: pd.DataFrame, endpoint: str, *,
                   min_events: int) -> pd.DataFrame:
    """Cox per SD and KM median split of every column of ``x`` (samples x features) for one
    endpoint, each feature on its complete cases; one row per feature with ``COX_FIELDS``,
    ``status``, ``note``."""
    clin = clinical.reindex(x.index)
    t = pd.to_numeric(clin[f"{endpoint}_time_months"], errors="coerce").to_numpy(float)
    e = pd.to_numeric(clin[f"{endpoint}_event"], errors="coerce").to_numpy(float)
    return _cox(t, e, x, min_events).reindex(columns=[*COX_FIELDS, "status", "note"])


def response_table(x: pd.DataFrame, clinical: pd.DataFrame, arm: str, *,
                   min_per_class: int) -> pd.DataFrame:
    """AUC and Mann-Whitney p of every column of ``x`` in the response arm (patients with a
    response label); one row per feature with ``AUC_FIELDS``, ``status``, ``note``."""
    clin = treated_subset(clinical.reindex(x.index), arm)
    y = clin["response"].to_numpy(float)
    out = _auc(y, x.loc[clin.index], min_per_class)
    return out.reindex(columns=[*AUC_FIELDS, "status", "note"])


def gene_statistics(x: pd.DataFrame, universe: pd.DataFrame, clinical: pd.DataFrame, *,
                    cohort: str, endpoints: Sequence[str], min_events: int,
                    response_arm: str | None = None, min_per_class: int = 5) -> pd.DataFrame:
    """The per-cohort gene rows: for each gene of ``universe``, one row per mapped endpoint
    (``gene_cox_hr_per_sd``) and, with ``response_arm`` not None and a ``response`` column,
    one ``gene_auc`` row. ``x``: samples x genes (:func:`gene_matrix`)."""
    parts = []
    tests: list[tuple[str, str, pd.DataFrame]] = []
    for ep in endpoints:
        if f"{ep}_time_months" in clinical.columns:
            tests.append((COX, ep, survival_table(x, clinical, ep, min_events=min_events)))
    if response_arm is not None and "response" in clinical.columns:
        tests.append((AUC, "response", response_table(x, clinical, response_arm,
                                                      min_per_class=min_per_class)))
    for analysis, endpoint, tab in tests:
        tab = tab.reindex(universe.index)
        missing = universe["row"].isna()
        tab.loc[missing, "status"] = "not tested"
        tab.loc[missing, "note"] = "not measured: " + universe.loc[missing, "reason"].astype(str)
        tab.loc[missing, "n"] = 0
        est, p = ("hr", "p_wald") if analysis == COX else ("auc", "p_mwu")
        tab.insert(0, "estimate", tab[est])
        tab.insert(1, "p", tab[p])
        ok = tab["status"] == "ok"
        tab.loc[~ok, ["estimate", "p"]] = np.nan
        tab = tab.reset_index()
        tab.insert(0, "cohort", cohort)
        tab.insert(1, "method", METHOD)
        tab.insert(2, "set", universe["sets"].to_numpy())
        tab.insert(4, "endpoint", endpoint)
        tab.insert(5, "analysis", analysis)
        tab["seed"] = universe["seed"].to_numpy(dtype=int)
        parts.append(tab)
    if not parts:
        return pd.DataFrame(columns=["cohort", "method", "set", "gene", "endpoint", "analysis",
                                     "estimate", "ci_low", "ci_high", "p", "status", "note",
                                     "n", "seed"])
    out = pd.concat(parts, ignore_index=True)
    out["n"] = out["n"].fillna(0).astype(int)
    return out


# --- pooling, FDR and one row per set ------------------------------------------------------------

_AS_SET_ANALYSIS = {COX: "cox_hr_per_sd", AUC: "auc"}


def pool_genes(table: pd.DataFrame, meta_method: str | None = None) -> pd.DataFrame:
    """Random-effects pooled rows of every gene x endpoint tested in two or more cohorts.

    Reuses :func:`ferroscope.statistics.meta_analyse` (the sets' pooling, with the sets'
    ``meta_method`` when given) with the gene as the grouping key and the set-level analysis
    names it knows."""
    if table.empty:
        return table.iloc[0:0]
    keyed = table.assign(set=table["gene"],
                         analysis=table["analysis"].map(_AS_SET_ANALYSIS))
    pooled = meta_analyse(keyed) if meta_method is None else meta_analyse(keyed, meta_method)
    if pooled.empty:
        return pooled
    back = {v: k for k, v in _AS_SET_ANALYSIS.items()}
    sets = table.groupby("gene")["set"].agg(
        lambda s: SET_SEP.join(dict.fromkeys(x for v in s for x in str(v).split(SET_SEP)
                                             if x != NO_SET)) or NO_SET)
    seed = table.groupby("gene")["seed"].max()
    pooled = pooled.assign(gene=pooled["set"], analysis=pooled["analysis"].map(back))
    pooled["set"] = sets.reindex(pooled["gene"]).to_numpy()
    pooled["seed"] = seed.reindex(pooled["gene"]).to_numpy()
    return pooled


def combine_genes(tables: list[pd.DataFrame], meta_method: str | None = None) -> pd.DataFrame:
    """Per-cohort gene tables -> pooled rows, BH FDR over unique genes, one row per set.

    The FDR family: every gene x cohort x endpoint test (and separately every pooled one),
    each gene counted once however many sets hold it; then each row is repeated for every set
    in its ``set`` list (``n_sets`` = the number of sets)."""
    tables = [t for t in tables if not t.empty]
    if not tables:
        return pd.DataFrame()
    merged = pd.concat(tables, ignore_index=True)
    merged["seed"] = merged["seed"].astype(int)
    pooled = pool_genes(merged, meta_method)
    both = merged if pooled.empty else pd.concat([merged, pooled], ignore_index=True)
    both = add_fdr(both)
    both["tier"] = "screening"  # no per-gene PH test, maxstat, adjusted model or td-AUC
    sets = both["set"].astype(str).str.split(SET_SEP)
    both["n_sets"] = [sum(s != NO_SET for s in v) for v in sets]
    both["set"] = sets
    out = both.explode("set", ignore_index=True)
    cols = list(out.columns)
    cols.remove("gene")
    cols.insert(cols.index("set") + 1, "gene")
    return out[cols]


def unique_gene_rows(stats: pd.DataFrame) -> pd.DataFrame:
    """Gene rows of a statistics table once per gene (the per-set repeats dropped)."""
    g = stats[stats["analysis"].astype(str).str.startswith("gene_")]
    return g.drop_duplicates(["cohort", "gene", "endpoint", "analysis"])


# --- leave one gene out --------------------------------------------------------------------------

def loo_sets(sets: Sequence[GeneSet], *, curated: Iterable[str] = (),
             max_sets: int = LOO_MAX_SETS) -> tuple[list[GeneSet], str]:
    """The leave-one-out sets of ``sets`` (members already matrix rows): for each set of two or
    more members, one set per member without it, named ``set + LOO_SEP + member``. Above
    ``max_sets`` LOO sets only the sets named in ``curated`` are done; the second value says so
    ("" when every set is done)."""
    def build(chosen: Iterable[GeneSet]) -> list[GeneSet]:
        return [GeneSet(f"{gs.name}{LOO_SEP}{g}", tuple(m for m in gs.genes if m != g))
                for gs in chosen if len(gs.genes) >= 2 for g in gs.genes]

    out = build(sets)
    if len(out) <= max_sets:
        return out, ""
    curated = set(curated)
    out = build(gs for gs in sets if gs.name in curated)
    return out, (f"{sum(len(gs.genes) for gs in sets)} leave-one-out sets exceed "
                 f"{max_sets}: done for the {len({s.name.split(LOO_SEP)[0] for s in out})} "
                 "sets of the curated table only")


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Column-wise Pearson correlation of ``a`` and ``b`` (samples x k each), pairwise
    complete."""
    ok = np.isfinite(a) & np.isfinite(b)
    n = ok.sum(axis=0)
    a = np.where(ok, a, 0.0)
    b = np.where(ok, b, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma, mb = a.sum(0) / n, b.sum(0) / n
        da, db = np.where(ok, a - ma, 0.0), np.where(ok, b - mb, 0.0)
        r = (da * db).sum(0) / np.sqrt((da**2).sum(0) * (db**2).sum(0))
    return np.where(n >= 3, r, np.nan)


def leave_one_out(expr: pd.DataFrame, sets: Sequence[GeneSet], loo: Sequence[GeneSet],
                  clinical: pd.DataFrame, score: Callable[[list[GeneSet]], pd.DataFrame], *,
                  cohort: str, method: str, endpoints: Sequence[str], min_events: int,
                  symbol_of: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Each set's HR per SD with and without each member, and each member's correlation with
    the set score.

    ``expr``: genes x samples (matrix rows); ``sets``: the scored sets (members = matrix rows);
    ``loo``: :func:`loo_sets`; ``score(list_of_sets)`` scores sets on the cohort (samples x
    sets; one call for full and LOO sets together); ``symbol_of`` maps a matrix row to the
    member's symbol (rows found under an alias). Columns: cohort, method, set, gene, row,
    endpoint, r (Pearson, member vs set score), n, events, hr_set, hr_without, ci_low_without,
    ci_high_without, p_without, delta_log_hr (log HR without minus with), status, note."""
    symbol_of = symbol_of or {}
    done = list(dict.fromkeys(s.name.split(LOO_SEP)[0] for s in loo))
    full = [gs for gs in sets if gs.name in set(done)]
    cols = ["cohort", "method", "set", "gene", "row", "endpoint", "r", "n", "events", "hr_set",
            "hr_without", "ci_low_without", "ci_high_without", "p_without", "delta_log_hr",
            "status", "note"]
    if not loo:
        return pd.DataFrame(columns=cols)
    scores = score([*full, *loo])
    pairs = pd.DataFrame([(*s.name.split(LOO_SEP), s.name) for s in loo],
                         columns=["set", "row", "loo"])
    a = expr.loc[pairs["row"]].T.to_numpy(np.float64)
    b = scores[pairs["set"]].to_numpy(np.float64)
    pairs["r"] = _pearson(a, b)
    pairs["gene"] = [symbol_of.get(r, r) for r in pairs["row"]]
    parts = []
    for ep in endpoints:
        if f"{ep}_time_months" not in clinical.columns:
            continue
        tab = survival_table(scores, clinical, ep, min_events=min_events)
        with_ = tab.reindex(pairs["set"]).reset_index(drop=True)
        without = tab.reindex(pairs["loo"]).reset_index(drop=True)
        ok = (with_["status"] == "ok") & (without["status"] == "ok")
        parts.append(pd.DataFrame({
            "cohort": cohort, "method": method, "set": pairs["set"], "gene": pairs["gene"],
            "row": pairs["row"], "endpoint": ep, "r": pairs["r"], "n": without["n"],
            "events": without["events"], "hr_set": with_["hr"].where(ok),
            "hr_without": without["hr"].where(ok),
            "ci_low_without": without["ci_low"].where(ok),
            "ci_high_without": without["ci_high"].where(ok),
            "p_without": without["p_wald"].where(ok),
            "delta_log_hr": (without["log_hr"] - with_["log_hr"]).where(ok),
            "status": np.where(ok, "ok", "not tested"),
            "note": np.where(ok, "", without["note"].fillna("").astype(str)
                             .where(without["status"] != "ok",
                                    with_["note"].fillna("").astype(str))),
        }))
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)
