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

import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from .genelevel import COX, HEADLINE, METHOD, NO_SET, SET_SEP
from .statistics import POOLED

#: at most this many per-set panels (sets of the curated table first, then by the set's q)
MAX_SET_PANELS = 30
#: at most this many rows in the searchable table (seed and member genes first, then by q)
MAX_TABLE_ROWS = 5000


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


_TEMPLATE: dict[str, Any] = {}


def _fig_html(fig: go.Figure, div_id: str) -> str:
    """The figure as a ``<div>`` (plotly.js is in the page head once); the house style merged
    into the figure's JSON, not through ``update_layout`` (which re-validates the template:
    seconds per figure at collection scale)."""
    if not _TEMPLATE:
        _TEMPLATE.update(pio.templates["plotly_white"].to_plotly_json())
    spec = fig.to_plotly_json()
    layout = spec.setdefault("layout", {})
    layout["template"] = _TEMPLATE
    layout["margin"] = {"l": 60, "r": 20, "t": 60, "b": 50, **layout.get("margin", {})}
    layout["font"] = {"family": "Helvetica, Arial, sans-serif", "size": 12}
    return pio.to_html(spec, full_html=False, include_plotlyjs=False, div_id=div_id,
                       validate=False, config={"displaylogo": False, "responsive": True})


def gene_rows(stats: pd.DataFrame) -> pd.DataFrame:
    """The gene rows of a statistics table, once per gene x cohort x endpoint x analysis."""
    if "gene" not in stats or stats.empty:
        return pd.DataFrame(columns=[*stats.columns, "gene"])
    g = stats[stats["analysis"].astype(str).str.startswith("gene_")]
    return g.drop_duplicates(["cohort", "gene", "endpoint", "analysis"]).copy()


def _cohort_colors(cohorts: Sequence[str]) -> dict[str, str]:
    palette = qualitative.D3
    return {c: palette[i % len(palette)] for i, c in enumerate(cohorts)}


def _tests(rows: pd.DataFrame) -> list[tuple[str, str]]:
    """(analysis, endpoint) present, survival endpoints first (os first), then response."""
    pairs = rows[["analysis", "endpoint"]].drop_duplicates().itertuples(index=False)
    return sorted(((str(a), str(e)) for a, e in pairs),
                  key=lambda p: (p[0] != COX, p[1] != "os", p[1]))


def _axis(analysis: str) -> tuple[float, str]:
    return (1.0, "HR per SD of expression") if analysis == COX else (0.5, "AUC")


def _positions(genes: Sequence[str]) -> dict[str, int]:
    """y position of each gene, the first at the top."""
    return {g: len(genes) - 1 - i for i, g in enumerate(genes)}


def _offsets(groups: Sequence[str]) -> dict[str, float]:
    """Vertical offset of each cohort (and pooled) inside a gene's band."""
    step = 0.7 / max(len(groups), 1)
    return {c: -(k - (len(groups) - 1) / 2) * step for k, c in enumerate(groups)}


def _gene_axis(fig: go.Figure, genes: Sequence[str]) -> None:
    pos = _positions(genes)
    fig.update_yaxes(tickvals=list(pos.values()), ticktext=[_esc(g) for g in pos],
                     range=[-0.6, len(genes) - 0.4], zeroline=False)


def gene_forest(rows: pd.DataFrame, genes: Sequence[str], analysis: str, endpoint: str,
                cohorts: Sequence[str], title: str, div_id: str) -> str | None:
    """Forest of ``genes`` (top to bottom) x cohorts, pooled estimate as a black diamond."""
    d = rows[(rows["analysis"] == analysis) & (rows["endpoint"] == endpoint)
             & (rows["status"] == "ok") & rows["gene"].isin(genes)]
    if d.empty:
        return None
    fig = go.Figure()
    _forest_traces(fig, d, list(genes), cohorts, None)
    ref, label = _axis(analysis)
    fig.add_vline(x=ref, line_dash="dash", line_color="#999")
    _gene_axis(fig, genes)
    if analysis == COX:
        fig.update_xaxes(type="log")
    fig.update_xaxes(title=label)
    fig.update_layout(title=title, height=140 + 34 * len(genes), legend={"title": "cohort"})
    return _fig_html(fig, div_id)


def _forest_traces(fig: go.Figure, d: pd.DataFrame, genes: list[str], cohorts: Sequence[str],
                   col: int | None) -> None:
    """One trace per cohort (and pooled), offset vertically inside each gene's band."""
    colors = _cohort_colors(cohorts)
    pos = _positions(genes)
    groups = [*cohorts, POOLED]
    off = _offsets(groups)
    for c in groups:
        g = d[(d["cohort"] == c) & d["gene"].isin(pos)]
        if g.empty:
            continue
        pooled = c == POOLED
        q = g["q"].to_numpy(float) if "q" in g else np.full(len(g), np.nan)
        fig.add_trace(go.Scatter(
            x=g["estimate"], y=[pos[x] + off[c] for x in g["gene"]], mode="markers",
            name="pooled (random effects)" if pooled else _esc(c), legendgroup=str(c),
            marker={"color": "#000" if pooled else colors[c], "size": 12 if pooled else 8,
                    "symbol": "diamond" if pooled else "square",
                    "line": {"width": np.where(q < 0.05, 2, 0).tolist(), "color": "#c0392b"}},
            error_x={"type": "data", "symmetric": False,
                     "array": g["ci_high"] - g["estimate"],
                     "arrayminus": g["estimate"] - g["ci_low"], "thickness": 1.2},
            text=[_esc(x) for x in g["gene"]],
            customdata=np.c_[g["ci_low"], g["ci_high"], g["p"], q, g["n"]],
            hovertemplate=("%{text} · " + _esc(c) + "<br>%{x:.3f} (95% CI %{customdata[0]:.3f}-"
                           "%{customdata[1]:.3f})<br>p = %{customdata[2]:.3g}, q = "
                           "%{customdata[3]:.3g}, n = %{customdata[4]}<extra></extra>")),
            **({"row": 1, "col": col} if col else {}))


def set_panel(rows: pd.DataFrame, drivers: pd.DataFrame, set_name: str, endpoint: str,
              cohorts: Sequence[str], set_note: str, div_id: str) -> str | None:
    """A set's genes: gene HR per SD | set HR without the gene | correlation with the score.

    ``rows``: gene rows with one row per set (``set`` a single name)."""
    d = rows[(rows["analysis"] == COX) & (rows["endpoint"] == endpoint)
             & (rows["status"] == "ok") & (rows["set"].astype(str) == set_name)]
    loo = (drivers[(drivers["set"] == set_name) & (drivers["endpoint"] == endpoint)]
           if not drivers.empty else drivers)
    genes = list(dict.fromkeys([*d["gene"].astype(str),
                                *(loo["gene"].astype(str) if len(loo) else [])]))
    if not genes:
        return None
    # strongest risk at the top: pooled log HR, else the mean over cohorts
    mean = np.log(d["estimate"].astype(float)).groupby(d["gene"]).mean()
    pooled = d[d["cohort"] == POOLED].set_index("gene")["estimate"]
    key = {g: float(np.log(pooled[g])) if g in pooled.index else float(mean.get(g, 0.0))
           for g in genes}
    genes = sorted(genes, key=lambda g: -key[g])
    pos = _positions(genes)
    off = _offsets([*cohorts, POOLED])
    has_loo = len(loo) > 0
    fig = make_subplots(rows=1, cols=3 if has_loo else 1, shared_yaxes=True,
                        column_widths=[0.5, 0.3, 0.2] if has_loo else [1.0],
                        horizontal_spacing=0.03,
                        subplot_titles=(["gene HR per SD", "set HR without the gene",
                                         "r with set score"] if has_loo else None))
    _forest_traces(fig, d, genes, cohorts, 1)
    fig.add_vline(x=1.0, line_dash="dash", line_color="#999", row=1, col=1)
    fig.update_xaxes(type="log", row=1, col=1)
    colors = _cohort_colors(cohorts)
    if has_loo:
        for c, g in loo.groupby("cohort", sort=False):
            color = colors.get(str(c), "#555")
            g = g[g["gene"].isin(pos)]
            ok = g[g["status"] == "ok"]
            ys = [pos[x] + off.get(str(c), 0.0) for x in ok["gene"]]
            fig.add_trace(go.Scatter(
                x=ok["hr_without"], y=ys, mode="markers", showlegend=False,
                marker={"color": color, "symbol": "circle", "size": 8}, legendgroup=str(c),
                error_x={"type": "data", "symmetric": False,
                         "array": ok["ci_high_without"] - ok["hr_without"],
                         "arrayminus": ok["hr_without"] - ok["ci_low_without"],
                         "thickness": 1},
                text=[_esc(x) for x in ok["gene"]],
                customdata=np.c_[ok["hr_set"], ok["p_without"]],
                hovertemplate=("without %{text} · " + _esc(c) + "<br>set HR %{x:.3f} "
                               "(p = %{customdata[1]:.3g}); with every member "
                               "%{customdata[0]:.3f}<extra></extra>")), row=1, col=2)
            if len(ok):
                fig.add_vline(x=float(ok["hr_set"].iloc[0]), line_dash="dot",
                              line_color=color, row=1, col=2)
            r = g.drop_duplicates("gene")
            fig.add_trace(go.Scatter(
                x=r["r"], y=[pos[x] + off.get(str(c), 0.0) for x in r["gene"]],
                mode="markers", marker={"color": color, "symbol": "circle", "size": 8},
                showlegend=False, text=[_esc(x) for x in r["gene"]],
                hovertemplate="%{text} · " + _esc(c) + ": r = %{x:.2f}<extra></extra>"),
                row=1, col=3)
        fig.update_xaxes(type="log", row=1, col=2)
        fig.update_xaxes(range=[-1, 1], row=1, col=3)
        fig.add_vline(x=0.0, line_color="#bbb", row=1, col=3)
    _gene_axis(fig, genes)
    fig.update_layout(
        title=_esc(f"{set_name} · {endpoint}") + (f"<br><sup>{_esc(set_note)}</sup>"
                                                  if set_note else ""),
        height=170 + 30 * len(genes), margin={"t": 100}, legend={"title": "cohort"})
    return _fig_html(fig, div_id)


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
    from .report import json_for_script, table_json

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
