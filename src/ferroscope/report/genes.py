"""The report's "Genes" section (``id="genes"``): seed genes first, then each set's genes.

Built from the gene rows of ``results/statistics.tsv`` (:mod:`ferroscope.genelevel`: analysis
``gene_cox_hr_per_sd`` / ``gene_auc``, one row per gene x cohort x endpoint, repeated per set)
and the leave-one-gene-out tables ``results/<cohort>/genes/drivers.tsv``:

1. the seed-gene panel: a forest of the headline genes (``genelevel.HEADLINE``: STIM1, KDELR3,
   SLC7A11, GPX4, AIFM2, DHODH, GCH1, NFE2L2) across cohorts with the pooled estimate, per
   endpoint and for response, and a table of every seed gene (pooled HR, q, and in which
   cohorts it is significant);
2. per set a gene forest with, beside it, the set's HR without each gene (leave one out) and
   each gene's correlation with the set score;
3. a searchable, sortable table of every gene tested (the report's own table script, no CDN).

Every text reaches the page escaped (``html.escape``; in the table through ``textContent``;
the table's JSON is embedded with ``<`` escaped so it cannot close its script element).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..genelevel import COX, HEADLINE, METHOD, NO_SET, SET_SEP
from ..statistics import POOLED
from .gene_figures import gene_forest, set_panel
from .markup import _esc

#: at most this many per-set panels (sets of the curated table first, then by the set's q)
MAX_SET_PANELS = 30
#: at most this many rows in the searchable table (seed and member genes first, then by q)
MAX_TABLE_ROWS = 5000


def gene_rows(stats: pd.DataFrame) -> pd.DataFrame:
    """The gene rows of a statistics table, once per gene x cohort x endpoint x analysis."""
    if "gene" not in stats or stats.empty:
        return pd.DataFrame(columns=[*stats.columns, "gene"])
    g = stats[stats["analysis"].astype(str).str.startswith("gene_")]
    return g.drop_duplicates(["cohort", "gene", "endpoint", "analysis"]).copy()

def _tests(rows: pd.DataFrame) -> list[tuple[str, str]]:
    """(analysis, endpoint) present, survival endpoints first (os first), then response."""
    pairs = rows[["analysis", "endpoint"]].drop_duplicates().itertuples(index=False)
    return sorted(((str(a), str(e)) for a, e in pairs),
                  key=lambda p: (p[0] != COX, p[1] != "os", p[1]))

def _ci_text(r: pd.Series) -> str:
    if r is None or r["status"] != "ok":
        return ""
    return f"{r['estimate']:.2f} ({r['ci_low']:.2f}-{r['ci_high']:.2f})"

def seed_table(rows: pd.DataFrame, seeds: Sequence[str], analysis: str,
               endpoint: str) -> list[dict[str, str]]:
    """One line per seed gene: its sets, pooled estimate and q, and per cohort estimate (CI)
    and p. ``rows``: gene rows, one per set (the repeats give the sets)."""
    d = rows[(rows["analysis"] == analysis) & (rows["endpoint"] == endpoint)]
    out = []
    for g in seeds:
        gs = d[d["gene"] == g]
        if gs.empty:
            continue
        gd = gs.drop_duplicates("cohort")
        pooled = gd[gd["cohort"] == POOLED]
        per = gd[gd["cohort"] != POOLED]
        sig = [str(c) for c, q in zip(per["cohort"], per["q"], strict=True) if q < 0.05]
        cells = []
        for r in per.itertuples():
            cells.append(f"{r.cohort}: " + (f"{r.estimate:.2f} ({r.ci_low:.2f}-{r.ci_high:.2f}),"
                                             f" p = {r.p:.2g}" if r.status == "ok"
                                             else f"not tested ({r.note})"))
        p0 = pooled.iloc[0] if len(pooled) else None
        out.append({
            "gene": g, "sets": ", ".join(dict.fromkeys(
                x for v in gs["set"].astype(str) for x in v.split(SET_SEP) if x != NO_SET)),
            "pooled": _ci_text(p0) if p0 is not None else "",
            "pooled_q": f"{p0['q']:.2g}" if p0 is not None and np.isfinite(p0["q"]) else "",
            "significant_in": ", ".join(sig) or "none",
            "cohorts": "; ".join(cells)})
    return out

def table_frame(rows: pd.DataFrame, stats_sets: pd.DataFrame,
                max_rows: int = MAX_TABLE_ROWS) -> tuple[pd.DataFrame, int]:
    """The searchable table: one row per gene x test (``HR os``, ``AUC response``) with its
    sets, seed flag, and pooled and per-cohort estimate, CI and q (columns
    ``<cohort>_estimate``, ``<cohort>_CI``, ``<cohort>_q``; pooled first). Seed genes first,
    then set members, then by the smallest q; at most ``max_rows`` rows. Returns (table,
    number of genes left out). ``stats_sets``: gene rows with one row per set."""
    cohorts = [POOLED, *sorted(c for c in rows["cohort"].astype(str).unique() if c != POOLED)]
    d = rows.assign(cohort=rows["cohort"].astype(str))
    ok = (d["status"] == "ok").to_numpy()
    lo = d["ci_low"].to_numpy(float)
    hi = d["ci_high"].to_numpy(float)
    d["CI"] = np.where(ok, np.char.add(np.char.add(np.char.mod("%.2f", lo), "-"),
                                       np.char.mod("%.2f", hi)), "")
    d["estimate"] = np.where(ok, d["estimate"].to_numpy(float), np.nan)
    d["q"] = np.where(ok, d["q"].to_numpy(float), np.nan)
    d["test"] = np.where(d["analysis"] == COX, "HR ", "AUC ") + d["endpoint"].astype(str)
    key = ["gene", "test"]
    wide = d.pivot_table(index=key, columns="cohort", values=["estimate", "CI", "q"],
                         aggfunc="first", dropna=False)
    out = pd.DataFrame(index=wide.index)
    for c in cohorts:
        for k in ("estimate", "CI", "q"):
            out[f"{c}_{k}"] = wide[(k, c)] if (k, c) in wide.columns else np.nan
    pairs = stats_sets[["gene", "set"]].astype(str).drop_duplicates()
    pairs = pairs[pairs["set"] != NO_SET]
    sets = pairs.groupby("gene")["set"].agg(", ".join)
    genes = out.index.get_level_values("gene")
    out.insert(0, "sets", sets.reindex(genes).fillna("").to_numpy())
    out.insert(1, "seed", d.groupby("gene")["seed"].max().reindex(genes).fillna(0)
               .astype(int).to_numpy())
    qs = out[[f"{c}_q" for c in cohorts]].to_numpy(float)
    with np.errstate(invalid="ignore"):
        minq = np.where(np.isnan(qs).all(axis=1), 2.0, np.nanmin(np.where(np.isnan(qs), 2.0,
                                                                            qs), axis=1))
    out = out.reset_index()
    order = np.lexsort((minq, out["sets"].to_numpy() == "", -out["seed"].to_numpy()))
    out = out.iloc[order].reset_index(drop=True)
    left_out = len(set(out["gene"].iloc[max_rows:]) - set(out["gene"].iloc[:max_rows]))
    out = out.iloc[:max_rows]
    cols = ["gene", "sets", "seed", "test"] + [f"{c}_{k}" for c in cohorts
                                               for k in ("estimate", "CI", "q")]
    return out[cols], left_out

def _table_html(table: pd.DataFrame) -> str:
    """The report's sortable, filterable, paged table (its ``div.ftable`` script)."""
    from .markup import json_for_script
    from .tables import table_json

    data = json_for_script(table_json(table, list(table.columns)))
    return ("<p class=\"small\">Click a column header to sort, type in the box to filter "
            "(words match any cell, e.g. <code>STIM1</code> or <code>NRF2_TARGETS</code>; "
            "<code>gene=GPX4</code> or <code>pooled_q&lt;0.05</code> filter one column).</p>"
            "<div class=\"ftable\" data-source=\"gene-table-data\" data-page=\"25\"></div>"
            f"<script type=\"application/json\" id=\"gene-table-data\">{data}</script>")

def _set_order(stats: pd.DataFrame, names: Sequence[str], curated: Sequence[str],
               primary: str) -> list[str]:
    """Sets of the curated table first (in its order), then by the set's smallest q."""
    sets = stats[(stats["method"] == primary) & (stats["analysis"] == "cox_hr_per_sd")]
    best = sets.groupby("set")["q"].min() if not sets.empty else pd.Series(dtype=float)
    cur = [s for s in dict.fromkeys(curated) if s in names]
    rest = sorted((s for s in names if s not in cur), key=lambda s: best.get(s, np.inf))
    return [*cur, *rest]

def genes_section(stats: pd.DataFrame, drivers: pd.DataFrame, **kw: Any) -> str:
    """The whole section as HTML (``<section id="genes">``, its ``<h2>`` and
    :func:`genes_body`)."""
    return "\n".join(["<section id=\"genes\">", "<h2>Genes</h2>",
                      genes_body(stats, drivers, **kw), "</section>"])

def genes_body(stats: pd.DataFrame, drivers: pd.DataFrame, *, primary: str,
               curated_sets: Sequence[str] = (), seeds: Sequence[str] = (),
               coverage: pd.DataFrame | None = None, max_sets: int = MAX_SET_PANELS) -> str:
    """The section's content: seed genes, per-set panels, the searchable table.

    ``stats``: the statistics table (set rows are used to order the sets); ``drivers``: the
    leave-one-gene-out tables of every cohort; ``curated_sets``/``seeds``: set names and
    symbols of the curation table, in its order; ``coverage``: every cohort's coverage table
    (to say which sets were not scored)."""
    all_rows = stats[stats["analysis"].astype(str).str.startswith("gene_")] \
        if "analysis" in stats else stats.iloc[0:0]
    rows = gene_rows(stats)
    parts: list[str] = []
    if rows.empty:
        return "<div class=\"note\">No gene-level statistics in this run.</div>"
    cohorts = sorted(c for c in rows["cohort"].astype(str).unique() if c != POOLED)
    tested = rows[(rows["cohort"] != POOLED) & (rows["status"] == "ok")]
    n_sig = int((tested["q"] < 0.05).sum())
    parts.append(
        f"<p>Each gene's expression, standardised within its cohort, against outcome: Cox "
        f"hazard ratio per SD (Wald p), Kaplan-Meier median-split log-rank p and, for "
        f"treatment response, the AUC (DeLong CI, Mann-Whitney p) in the response arm. "
        f"{tested['gene'].nunique()} genes tested in {len(cohorts)} cohort(s) "
        f"({len(tested)} tests, {n_sig} with q &lt; 0.05); pooled estimates are random-effects "
        f"meta-analyses across cohorts. q is the Benjamini-Hochberg FDR over gene-level tests "
        f"only (method <code>{METHOD}</code>; each gene counted once, however many sets hold "
        f"it; pooled tests are a separate family). Genes resolve to matrix rows as set members "
        f"do (approved symbol, then aliases).</p>")
    # 1. seed genes
    seed_list = list(dict.fromkeys(seeds)) or sorted(rows.loc[rows["seed"] == 1, "gene"]
                                                     .unique())
    headline = [g for g in HEADLINE if g in set(rows["gene"])]
    ordered = [*headline, *(g for g in seed_list if g not in headline)]
    parts.append("<h3 id=\"genes-seed\">Seed genes</h3>")
    parts.append(f"<p>The genes named in the seed documents, headline genes first "
                 f"({_esc(', '.join(HEADLINE))}). ◆ pooled; red outline: q &lt; 0.05.</p>")
    for k, (analysis, endpoint) in enumerate(_tests(rows)):
        what = (f"hazard ratio per SD of expression, {endpoint}" if analysis == COX
                else "AUC for response (> 0.5: higher in responders)")
        fig = gene_forest(rows, headline, analysis, endpoint, cohorts,
                          _esc(f"Headline seed genes: {what}"), f"genes-seed-{k}")
        if fig:
            parts.append(fig)
        table = seed_table(all_rows, ordered, analysis, endpoint)
        if table:
            label = "HR per SD" if analysis == COX else "AUC"
            parts.append(f"<p class=\"small\">Every seed gene ({_esc(label)}, "
                         f"{_esc(endpoint)}):</p><div class=\"scroll\"><table><tr><th>gene</th>"
                         f"<th>sets</th><th>pooled (95% CI)</th><th>pooled q</th>"
                         f"<th>q &lt; 0.05 in</th><th>per cohort</th></tr>")
            for r in table:
                parts.append("<tr>" + "".join(
                    f"<td{' class=small' if c == 'cohorts' else ''}>{_esc(r[c])}</td>"
                    for c in ("gene", "sets", "pooled", "pooled_q", "significant_in",
                              "cohorts")) + "</tr>")
            parts.append("</table></div>")
    # 2. per set: gene forest with leave-one-out and correlation
    parts.append("<h3 id=\"genes-sets\">Which genes drive a set</h3>")
    names = list(dict.fromkeys(
        s for v in all_rows["set"].astype(str) for s in [v] if s != NO_SET))
    loo_method = str(drivers["method"].iloc[0]) if not drivers.empty else primary
    parts.append(
        f"<p>Per set: each member's HR per SD (left); the set's HR per SD when scored without "
        f"that member (middle; dotted line: the set's HR with every member, scores by "
        f"<b>{_esc(loo_method)}</b>, all leave-one-out sets scored in one run so ranks are "
        f"shared); and the member's Pearson correlation with the set score (right). A member "
        f"whose removal moves the set's HR towards 1 drives the association.</p>")
    endpoints = [e for a, e in _tests(rows) if a == COX]
    not_scored = {}
    if coverage is not None and not coverage.empty:
        for s, g in coverage.groupby("set"):
            if not g["scored"].astype(bool).any():
                not_scored[str(s)] = str(g["reason"].iloc[0])
    order = _set_order(stats, names, curated_sets, primary)
    if len(order) > max_sets:
        parts.append(f"<div class=\"note\">{len(order)} sets hold tested genes; the first "
                     f"{max_sets} are drawn (sets of the curated table, then by the set's "
                     f"smallest q); every gene is in the table below and in "
                     f"<code>results/statistics.tsv</code>.</div>")
    for k, s in enumerate(order[:max_sets]):
        for j, ep in enumerate(endpoints[:1]):
            note = (f"not scored ({not_scored[s]}): genes only, no leave-one-out"
                    if s in not_scored else "")
            fig = set_panel(all_rows, drivers, s, ep, cohorts, note, f"genes-set-{k}-{j}")
            if fig:
                parts.append(fig)
    # 3. searchable table
    table, dropped = table_frame(rows, all_rows)
    parts.append("<h3 id=\"genes-table\">All genes</h3>")
    if dropped:
        parts.append(f"<div class=\"note\">{dropped} genes with larger q are left out of this "
                     f"table (it holds {MAX_TABLE_ROWS} rows); they are in "
                     f"<code>results/statistics.tsv</code>.</div>")
    parts.append(_table_html(table))
    return "\n".join(parts)
