"""Tumour versus adjacent non-tumour tissue: sample groups, the per-cohort comparison, pooling.

**Samples.** A cohort may declare a comparison group (config ``samples.compare``, see
docs/tissue.md). Its assembled (or local) clinical table then carries, per sample, the
reserved columns :data:`GROUP` (``tumour`` / ``non_tumour``) and :data:`PAIR` (the patient
key that links a tumour to its adjacent non-tumour sample). :func:`tumour_only` removes the
comparison samples before the prepare step, so survival and response stay on tumours exactly as
without the declaration; :func:`comparison_samples` keeps both groups for the tissue step,
which scores them in one matrix (scores are relative to the samples scored together).

**Tests** (:func:`compare`, per gene set x scoring method, and per seed gene on expression,
all features at once): where at least :data:`MIN_PAIRS` tumour/non-tumour pairs exist, the
Wilcoxon signed-rank test on the paired differences tumour - non-tumour with the
Hodges-Lehmann estimate and its CI; otherwise the Mann-Whitney test with the Hodges-Lehmann
shift. Both equal R's ``wilcox.test(..., conf.int = TRUE)``, exact where R is exact
(formulas, references and R's rules: :mod:`ferroscope.ranktests`).

**Pooling across cohorts.** The Hodges-Lehmann shift is on each cohort's score scale (scores
are relative to the samples scored together; expression scales differ by platform), so cohorts
are pooled on Hedges' g in units of the within-group SD (:func:`hedges_g_many`, Borenstein et
al. 2009, *Introduction to Meta-Analysis*, eqs 4.18-4.28), by random effects as elsewhere
(``ferroscope.meta``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from .errors import FerroscopeError
from .ranktests import RankTests, rank_sum_many, signed_rank_many

#: reserved columns of an assembled clinical table declaring a comparison
GROUP, PAIR = "ferroscope_tissue", "ferroscope_pair"
TUMOUR, NON_TUMOUR = "tumour", "non_tumour"
ANALYSIS = "tumour_vs_nontumour"
#: the method name of the per-gene rows (expression, not a score)
EXPRESSION = "expression"
MIN_PAIRS = 5            # fewer complete pairs: the unpaired test on all samples
MIN_PER_GROUP = 3        # fewer samples in a group: not tested


# ---- standardised mean difference (pooling) ------------------------------------------------

def hedges_g_many(x: np.ndarray, y: np.ndarray, paired: bool) -> tuple[np.ndarray, np.ndarray]:
    """Hedges' g of x over y per row (NaN = absent), within-group SD units, and its SE.

    Paired (complete pairs): d = mean(x - y) / S_within, S_within = S_diff / sqrt(2 (1 - r)),
    V_d = (1/n + d²/(2n)) 2 (1 - r), df = n - 1 (r = 0 if x or y is constant). Unpaired:
    pooled SD, V_d = (n1 + n2)/(n1 n2) + d²/(2 (n1 + n2)), df = n1 + n2 - 2.
    g = J d, SE_g = J sqrt(V_d), J = 1 - 3 / (4 df - 1). NaN where the SD is 0 or r = 1.
    """
    x, y = np.atleast_2d(np.asarray(x, float)), np.atleast_2d(np.asarray(y, float))
    with np.errstate(divide="ignore", invalid="ignore"):
        if paired:
            ok = ~(np.isnan(x) | np.isnan(y))
            x, y = np.where(ok, x, np.nan), np.where(ok, y, np.nan)
            n, diff = ok.sum(axis=1), x - y
            s_diff = np.nanstd(diff, axis=1, ddof=1)
            xc, yc = x - np.nanmean(x, axis=1)[:, None], y - np.nanmean(y, axis=1)[:, None]
            sxx, syy = np.nansum(xc * xc, axis=1), np.nansum(yc * yc, axis=1)
            r = np.where((sxx > 0) & (syy > 0), np.nansum(xc * yc, axis=1) / np.sqrt(sxx * syy),
                         0.0)
            valid, df = (s_diff != 0) & (r < 1), n - 1
            d = np.nanmean(diff, axis=1) / (s_diff / np.sqrt(2 * (1 - r)))   # S_within
            var = (1 / n + d * d / (2 * n)) * 2 * (1 - r)
        else:
            n1, n2 = (~np.isnan(x)).sum(axis=1), (~np.isnan(y)).sum(axis=1)
            sp = np.sqrt(((n1 - 1) * np.nanvar(x, axis=1, ddof=1)
                          + (n2 - 1) * np.nanvar(y, axis=1, ddof=1)) / (n1 + n2 - 2))
            valid, df = sp != 0, n1 + n2 - 2
            d = (np.nanmean(x, axis=1) - np.nanmean(y, axis=1)) / sp
            var = (n1 + n2) / (n1 * n2) + d * d / (2 * (n1 + n2))
        j = 1 - 3 / (4 * df - 1)
        return np.where(valid, j * d, np.nan), np.where(valid, j * np.sqrt(var), np.nan)


def hedges_g(x: np.ndarray, y: np.ndarray, paired: bool) -> tuple[float, float]:
    """One feature of :func:`hedges_g_many`."""
    g, se = hedges_g_many(np.atleast_2d(x), np.atleast_2d(y), paired)
    return float(g[0]), float(se[0])


# ---- one cohort: every feature (set score or gene) tumour vs non-tumour, all at once -------

def plain_groups(groups: pd.DataFrame) -> pd.DataFrame:
    """The group and pair columns as plain strings (h5ad obs stores them as categoricals)."""
    return pd.DataFrame({c: groups[c].astype(object).where(groups[c].notna(), "").astype(str)
                         for c in (GROUP, PAIR)}, index=groups.index)


def compare(values: pd.DataFrame, groups: pd.DataFrame, *, cohort: str, method: str,
            sets: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Test every column of ``values`` (samples x features) tumour vs non-tumour.

    ``groups``: index sample_id, columns :data:`GROUP` and :data:`PAIR` (empty = unpaired).
    Pairs: a patient with exactly one tumour and one non-tumour sample. With at least
    :data:`MIN_PAIRS` complete pairs the signed-rank test on them (n = pairs); else the
    rank-sum test on all samples (n = samples). ``sets`` maps a feature to the ``set`` column
    (genes: the sets they belong to); by default the feature is the set. The statistics of all
    features are computed at once (:func:`ferroscope.ranktests.signed_rank_many`, ...).
    """
    g = plain_groups(groups).reindex(values.index)
    tum = g.index[g[GROUP] == TUMOUR]
    non = g.index[g[GROUP] == NON_TUMOUR]
    pair_ids = g[PAIR].fillna("").astype(str)
    t_by = pd.Series(tum, index=pair_ids[tum].to_numpy())
    n_by = pd.Series(non, index=pair_ids[non].to_numpy())
    t_by = t_by[(t_by.index != "") & ~t_by.index.duplicated(keep=False)]
    n_by = n_by[(n_by.index != "") & ~n_by.index.duplicated(keep=False)]
    common = t_by.index.intersection(n_by.index).sort_values()
    feats, at = values.to_numpy(float).T, values.index.get_indexer   # features x samples
    tx, nx = feats[:, at(t_by[common])], feats[:, at(n_by[common])]
    n_pairs = (~(np.isnan(tx) | np.isnan(nx))).sum(axis=1)
    paired, unpaired = np.flatnonzero(n_pairs >= MIN_PAIRS), np.flatnonzero(n_pairs < MIN_PAIRS)
    a, b = feats[unpaired][:, at(tum)], feats[unpaired][:, at(non)]
    n_a, n_b = (~np.isnan(a)).sum(axis=1), (~np.isnan(b)).sum(axis=1)
    few = np.minimum(n_a, n_b) < MIN_PER_GROUP
    sr, rs = signed_rank_many(tx[paired], nx[paired]), rank_sum_many(a[~few], b[~few])
    g_p, se_p = hedges_g_many(tx[paired], nx[paired], paired=True)
    g_u, se_u = hedges_g_many(a[~few], b[~few], paired=False)
    # per feature: (which test, its position in that test's arrays)
    where = {int(i): (sr, k, g_p, se_p) for k, i in enumerate(paired)}
    where.update({int(i): (rs, k, g_u, se_u) for k, i in enumerate(unpaired[~few])})
    counts = dict(zip(unpaired.tolist(), zip(n_a.tolist(), n_b.tolist(), strict=True),
                      strict=True))
    rows = []
    for j, feature in enumerate(values.columns):      # assembling rows only
        base = {"cohort": cohort, "method": method,
                "set": (sets or {}).get(feature, feature), "endpoint": "tissue",
                "analysis": ANALYSIS}
        if method == EXPRESSION:
            base["gene"] = feature
        if j not in where:
            na, nb = counts[j]
            rows.append({**base, "status": "not tested", "n": na + nb,
                         "note": f"{na} tumour and {nb} non-tumour samples "
                                 f"(at least {MIN_PER_GROUP} each needed)"})
            continue
        res, k, g_, se = where[j]
        if res.error[k]:
            rows.append({**base, "status": "not tested", "n": int(n_pairs[j]),
                         "note": f"not testable: {res.error[k]}"})
            continue
        rows.append(_row(base, res, k, float(g_[k]), float(se[k]), int(n_pairs[j]),
                         counts.get(j)))
    return pd.DataFrame(rows)


def _row(base: dict[str, Any], res: RankTests, k: int, g_: float, se: float, n_pairs: int,
         counts: tuple[int, int] | None) -> dict[str, Any]:
    """One tested feature's row of :func:`compare`."""
    kind = "exact" if res.exact[k] else "normal approximation"
    if res.test == "signed_rank":
        zeros = int(res.n_zero[k])
        note = (f"paired Wilcoxon signed-rank on {n_pairs} tumour/non-tumour pairs ({kind})"
                + (f"; {zeros} zero differences dropped" if zeros else "")
                + ("; no CI, estimate = midrange (all differences tied, as R)"
                   if np.isnan(res.ci_low[k]) else ""))
        extra = {"n_tumour": n_pairs, "n_nontumour": n_pairs}
    else:
        na, nb = counts or (0, 0)
        note = (f"Mann-Whitney (unpaired: {n_pairs} pairs < {MIN_PAIRS}) on {na} tumour and "
                f"{nb} non-tumour samples ({kind})")
        extra = {"n_tumour": na, "n_nontumour": nb}
    return {**base, "estimate": float(res.estimate[k]), "ci_low": float(res.ci_low[k]),
            "ci_high": float(res.ci_high[k]), "p": float(res.p[k]), "status": "ok",
            "n": int(res.n[k]), "test": res.test, "statistic": float(res.statistic[k]),
            "exact": int(res.exact[k]), "smd": g_, "se_smd": se, "note": note, **extra}


# --------------------------------------------------------------------------------------------
# across cohorts: pooling and FDR (a family of its own: the survival/response q are unchanged)

def pool(table: pd.DataFrame, method: str = "reml_hksj") -> pd.DataFrame:
    """Random effects of Hedges' g over the cohorts of each method x set (x gene) tested in two
    or more, by ``ferroscope.meta.pool`` (``statistics.meta.method``: REML with the
    Hartung-Knapp-Sidik-Jonkman CI by default, or DerSimonian-Laird), with the prediction
    interval; the per-cohort HL shifts are not comparable and not pooled."""
    from . import meta

    if table.empty:
        return table
    ok = table[(table["status"] == "ok") & table["smd"].notna() & (table["se_smd"] > 0)]
    keys = ["method", "set"] + (["gene"] if "gene" in table else [])
    groups = [(key, grp) for key, grp in ok.groupby(keys, sort=False, dropna=False)
              if len(grp) >= 2]
    if not groups:
        return pd.DataFrame()
    width = max(len(g) for _, g in groups)
    y = np.full((len(groups), width), np.nan)
    se = np.full((len(groups), width), np.nan)
    for i, (_, grp) in enumerate(groups):
        y[i, :len(grp)] = grp["smd"].to_numpy(float)
        se[i, :len(grp)] = grp["se_smd"].to_numpy(float)
    res = meta.pool(y, se, method=method)
    from .statistics import FEW_COHORTS

    rows = []
    for i, (key, grp) in enumerate(groups):
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        k = len(grp)
        rows.append({**row, "cohort": "pooled", "endpoint": "tissue", "analysis": ANALYSIS,
                     "estimate": res.estimate[i], "ci_low": res.ci_low[i],
                     "ci_high": res.ci_high[i], "p": res.p[i],
                     "status": "ok" if np.isfinite(res.estimate[i]) else "not tested",
                     "n": int(grp["n"].sum()), "n_cohorts": k, "tau2": res.tau2[i],
                     "i2": res.i2[i], "pi_low": res.pi_low[i], "pi_high": res.pi_high[i],
                     "meta_method": method, "smd": res.estimate[i], "se_smd": res.se[i],
                     "test": "random_effects_smd",
                     "note": f"Hedges' g (tumour - non-tumour, within-group SD units), "
                             f"{meta.LABEL[method]} over {k} cohorts "
                             f"({', '.join(map(str, grp['cohort']))})"
                             + (f"; {FEW_COHORTS}" if k == 2 else "")})
    return pd.DataFrame(rows)


def with_pooled_and_fdr(tables: list[pd.DataFrame],
                        meta_method: str = "reml_hksj") -> pd.DataFrame:
    """Per-cohort tables -> one table with pooled rows and q (BH within each method, per-cohort
    and pooled rows separately; a family of its own, apart from survival and response)."""
    tables = [t for t in tables if not t.empty]
    if not tables:
        return pd.DataFrame(columns=["cohort", "method", "set", "endpoint", "analysis",
                                     "estimate", "ci_low", "ci_high", "p", "q", "status",
                                     "note", "n"])
    merged = pd.concat(tables, ignore_index=True)
    pooled = pool(merged, meta_method)
    if not pooled.empty:
        merged = pd.concat([merged, pooled], ignore_index=True)
    merged["q"] = np.nan
    is_pooled = merged["cohort"] == "pooled"
    for _, idx in merged.groupby([merged["method"], is_pooled]).groups.items():
        p = merged.loc[idx, "p"]
        p = p[p.notna()]
        if len(p):
            merged.loc[p.index, "q"] = sps.false_discovery_control(p.to_numpy(float),
                                                                   method="bh")
    return merged


def concat_tissue(table: pd.DataFrame, tissue_tables: list[pd.DataFrame]) -> pd.DataFrame:
    """results/statistics.tsv: the survival/response table with the tissue rows appended
    (their q computed in :func:`with_pooled_and_fdr`; the other rows are untouched)."""
    tissue_tables = [t for t in tissue_tables if not t.empty]
    if not tissue_tables:
        return table
    return pd.concat([table, *tissue_tables], ignore_index=True)


# --------------------------------------------------------------------------------------------
# samples: the comparison group of a cohort

def mark_local(clinical: pd.DataFrame, samples: Mapping[str, Any], *, source: str,
               cid: str) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """A local cohort's ``samples.compare`` ({column, values}) and ``samples.pair_by`` -> the
    reserved columns. Every declared value must match a sample (else the run stops, listing
    the observed values with their counts); samples with another value are tumours."""
    cmp_cfg = samples["compare"]
    col, values = cmp_cfg["column"], [str(v) for v in cmp_cfg["values"]]
    pair_by = samples.get("pair_by")
    for key, c in (("compare.column", col), ("pair_by", pair_by)):
        if c is not None and c not in clinical.columns:
            raise FerroscopeError(f"column '{c}' is not in the clinical table (columns: "
                                  f"{list(clinical.columns)[:12]}).", file=source,
                                  field=f"cohorts.{cid}.samples.{key}",
                                  fix="name a column of the clinical table.")
    observed = clinical[col].astype("string").str.strip()
    counts = observed.value_counts(dropna=False)
    unmatched = [v for v in values if v not in set(observed.dropna())]
    if unmatched:
        raise FerroscopeError(
            f"value(s) {unmatched} of samples.compare match no sample in column '{col}' "
            f"(observed: {', '.join(f'{k!s} ({v})' for k, v in counts.items())}).",
            file=source, field=f"cohorts.{cid}.samples.compare.values",
            fix="use the values exactly as the clinical table writes them.")
    out = clinical.copy()
    is_cmp = observed.isin(values).fillna(False).to_numpy(bool)
    out[GROUP] = np.where(is_cmp, NON_TUMOUR, TUMOUR)
    out[PAIR] = (clinical[pair_by].astype("string").str.strip().fillna("")
                 if pair_by else "")
    return out, [compare_record(out, col)]


def compare_record(clinical: pd.DataFrame, column: str) -> dict[str, Any]:
    """The mapping record of a comparison: non-tumour samples kept, tumours, pairs."""
    grp = clinical[GROUP]
    pairs = clinical[PAIR].fillna("").astype(str)
    t = pairs[(grp == TUMOUR) & (pairs != "")]
    n = pairs[(grp == NON_TUMOUR) & (pairs != "")]
    t, n = t[~t.duplicated(keep=False)], n[~n.duplicated(keep=False)]
    return {"mapping": "samples.compare", "column": column,
            "kept": int((grp == NON_TUMOUR).sum()), "dropped": 0,
            "tumours": int((grp == TUMOUR).sum()), "pairs": int(len(set(t) & set(n)))}


def _has_comparison(cfg: Mapping[str, Any]) -> bool:
    return bool(cfg.get("samples", {}).get("compare")) or bool(
        cfg.get("demo", {}).get("n_nontumour", 0))


def split(raw: pd.DataFrame, clinical: pd.DataFrame, cfg: Mapping[str, Any], *, source: str,
          cid: str) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The clinical table with the reserved columns (local cohorts: from config) and the
    comparison record; checks the reserved columns are there when a comparison is declared."""
    if cfg["source"] == "local" and cfg.get("samples", {}).get("compare"):
        return mark_local(clinical, cfg["samples"], source=source, cid=cid)
    if GROUP not in clinical.columns:
        raise FerroscopeError(
            f"cohort '{cid}' declares a tumour/non-tumour comparison but its assembled "
            f"clinical table has no '{GROUP}' column.", file=source,
            fix="re-run the cohort_source rule (delete resources/cohorts/"
                f"{cid}/clinical.tsv).")
    return clinical, []


def tumour_only(raw: pd.DataFrame, clinical: pd.DataFrame, records: list[dict[str, Any]],
                cfg: Mapping[str, Any], *, source: str, cid: str
                ) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, Any]]]:
    """Drop the comparison samples and the reserved columns: the tumour-only tables, exactly
    as without a comparison (the prepare step then runs unchanged).

    With ``source`` an existing clinical file, the tumour rows are parsed again from it on
    their own, so that every column gets the type it has in a tumour-only file (a column
    empty on the non-tumour rows would otherwise read as float instead of int)."""
    records = [r for r in records if r.get("mapping") != "samples.compare"]
    if not _has_comparison(cfg) and GROUP not in clinical.columns:
        return raw, clinical, records
    marked, _ = split(raw, clinical, cfg, source=source, cid=cid)
    sid = cfg["clinical"]["sample_id"]
    keep = (marked[GROUP] == TUMOUR).to_numpy()
    ids = set(marked.loc[~keep, sid].astype(str))
    clin = _reparse(clinical, keep, source).drop(columns=[GROUP, PAIR], errors="ignore")
    expr = raw.loc[:, [c for c in raw.columns if str(c) not in ids]]
    return expr, clin, records


def _reparse(clinical: pd.DataFrame, keep: np.ndarray, source: str) -> pd.DataFrame:
    """Rows ``keep`` of the table read from ``source`` (as ferroscope.io.read_table reads it),
    parsed on their own; the rows of ``clinical`` when the file is not there."""
    from pathlib import Path

    path = Path(source)
    name = path.name.lower().removesuffix(".gz")
    if not path.is_file() or not name.endswith((".tsv", ".csv", ".txt")):
        return clinical.loc[keep].reset_index(drop=True)
    rows = set(np.flatnonzero(keep) + 1)  # + the header line
    sep = "," if path.name.lower().removesuffix(".gz").endswith(".csv") else "\t"
    out = pd.read_csv(path, sep=sep, low_memory=False,
                      skiprows=lambda i: i > 0 and i not in rows)
    if len(out) != int(keep.sum()):
        raise FerroscopeError("the clinical table changed while it was read (or holds quoted "
                              "line breaks).", file=source,
                              fix="remove line breaks inside cells; run again.")
    return out


def comparison_samples(raw: pd.DataFrame, clinical: pd.DataFrame,
                       records: list[dict[str, Any]], cfg: Mapping[str, Any], *, source: str,
                       cid: str) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, Any]]]:
    """Tumour and non-tumour samples of a cohort: the expression (both groups), the groups
    table (sample_id, group, pair) and the comparison record."""
    marked, recs = split(raw, clinical, cfg, source=source, cid=cid)
    recs = recs or [r for r in records if r.get("mapping") == "samples.compare"]
    if not recs:
        recs = [compare_record(marked, GROUP)]
    sid = cfg["clinical"]["sample_id"]
    groups = pd.DataFrame({"sample_id": marked[sid].astype(str).str.strip(),
                           GROUP: marked[GROUP].astype(str),
                           PAIR: marked[PAIR].fillna("").astype(str)})
    groups = groups[groups["sample_id"].isin([str(c) for c in raw.columns])]
    if groups["sample_id"].duplicated().any():
        dup = groups.loc[groups["sample_id"].duplicated(), "sample_id"].iloc[0]
        raise FerroscopeError(f"sample '{dup}' appears twice in the clinical table.",
                              file=source, field=f"cohorts.{cid}.clinical.sample_id",
                              fix="keep one row per sample.")
    counts = groups[GROUP].value_counts()
    if counts.get(NON_TUMOUR, 0) == 0 or counts.get(TUMOUR, 0) == 0:
        raise FerroscopeError(
            f"cohort '{cid}': the comparison needs tumour and non-tumour samples with "
            f"expression; found {counts.to_dict()}.", file=source,
            field=f"cohorts.{cid}.samples.compare",
            fix="check the comparison values and the sample ids of the expression matrix.")
    expr = raw.loc[:, [c for c in raw.columns if str(c) in set(groups["sample_id"])]]
    return expr, groups.reset_index(drop=True), recs


def seed_genes(genes_table: pd.DataFrame) -> dict[str, str]:
    """Seed gene -> the sets it belongs to (comma-separated), in the curation table's order."""
    out: dict[str, list[str]] = {}
    for sym, set_name in zip(genes_table["symbol"], genes_table["set"], strict=True):
        out.setdefault(str(sym), [])
        if str(set_name) not in out[str(sym)]:
            out[str(sym)].append(str(set_name))
    return {g: ",".join(s) for g, s in out.items()}
