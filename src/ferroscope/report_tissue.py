"""The report's tumour vs adjacent non-tumour section (``id="tissue"``), as one HTML string.

Per cohort with a comparison group: a paired-lines figure of the primary method's set scores
(one line per patient from non-tumour to tumour, box plots of both groups; a menu chooses the
set), then one table of the tests (per set x method and per seed gene) and a forest of the
standardised differences (Hedges' g) per cohort with the random-effects pooled estimate.
Everything public (cohort, set and gene names) is escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from .tissue import ANALYSIS, EXPRESSION, GROUP, NON_TUMOUR, PAIR, TUMOUR, plain_groups

COLORS = {TUMOUR: "#c0392b", NON_TUMOUR: "#2471a3"}


@dataclass
class TissueData:
    """One cohort's comparison: groups (index sample_id; GROUP, PAIR) and primary scores."""

    cohort: str
    groups: pd.DataFrame
    scores: pd.DataFrame  # samples x sets (primary method), tumour and non-tumour together


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _fig_html(fig: go.Figure, div_id: str) -> str:
    fig.update_layout(template="plotly_white", margin={"l": 60, "r": 20, "t": 60, "b": 50},
                      font={"family": "Helvetica, Arial, sans-serif", "size": 12})
    return pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


def _fmt(v: object, digits: int = 3) -> str:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return _esc(v)
    if np.isnan(f):
        return ""
    return f"{f:.{digits}g}"


def _title(row: pd.Series | None, name: str) -> str:
    if row is None:
        return _esc(name)
    unit = "pairs" if row.get("test") == "signed_rank" else "samples"
    return (f"{_esc(name)}: HL {_fmt(row['estimate'])} [{_fmt(row['ci_low'])}, "
            f"{_fmt(row['ci_high'])}], p = {_fmt(row['p'])}, n = {int(row['n'])} {unit}")


def paired_figure(data: TissueData, stats: pd.DataFrame, method: str,
                  div_id: str) -> str | None:
    """Non-tumour -> tumour lines per patient and box plots per group, one set at a time."""
    sets = [s for s in data.scores.columns if data.scores[s].notna().any()]
    if not sets:
        return None
    g = plain_groups(data.groups).reindex(data.scores.index)
    mine = stats[(stats["cohort"] == data.cohort) & (stats["method"] == method)
                 & (stats["analysis"] == ANALYSIS) & (stats["status"] == "ok")]
    by_set = {r["set"]: r for _, r in mine.iterrows()}
    tum = g.index[g[GROUP] == TUMOUR]
    non = g.index[g[GROUP] == NON_TUMOUR]
    t_by = pd.Series(tum, index=g.loc[tum, PAIR].astype(str).to_numpy())
    n_by = pd.Series(non, index=g.loc[non, PAIR].astype(str).to_numpy())
    t_by = t_by[(t_by.index != "") & ~t_by.index.duplicated(keep=False)]
    n_by = n_by[(n_by.index != "") & ~n_by.index.duplicated(keep=False)]
    pairs = t_by.index.intersection(n_by.index).sort_values()
    fig = go.Figure()
    titles = []
    for k, s in enumerate(sets):
        col = data.scores[s]
        xs: list[object] = []
        ys: list[object] = []
        for p in pairs:
            xs += ["non-tumour", "tumour", None]
            ys += [col[n_by[p]], col[t_by[p]], None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", visible=k == 0,
                                 line={"color": "rgba(90,90,90,0.35)", "width": 1},
                                 marker={"size": 4, "color": "#555"}, hoverinfo="skip",
                                 name=f"{len(pairs)} pairs", showlegend=False))
        for grp, label in ((NON_TUMOUR, "non-tumour"), (TUMOUR, "tumour")):
            vals = col[g.index[g[GROUP] == grp]]
            fig.add_trace(go.Box(x=[label] * len(vals), y=vals, name=label, visible=k == 0,
                                 marker_color=COLORS[grp], boxpoints=False, opacity=0.5,
                                 showlegend=False, width=0.35))
        titles.append(_title(by_set.get(s), s))
    buttons = []
    for k, (s, t) in enumerate(zip(sets, titles, strict=True)):
        vis = [False] * (3 * len(sets))
        vis[3 * k: 3 * k + 3] = [True] * 3
        buttons.append({"label": _esc(s), "method": "update",
                        "args": [{"visible": vis}, {"title.text": t}]})
    fig.update_layout(title=titles[0], height=430, yaxis_title=f"{_esc(method)} score",
                      updatemenus=[{"buttons": buttons, "direction": "down", "x": 1.0,
                                    "xanchor": "right", "y": 1.2, "yanchor": "top"}])
    fig.update_xaxes(categoryorder="array", categoryarray=["non-tumour", "tumour"])
    return _fig_html(fig, div_id)


def forest(stats: pd.DataFrame, method: str, div_id: str) -> str | None:
    """Hedges' g (tumour - non-tumour) per set x cohort with 95% CI; pooled as diamonds."""
    d = stats[(stats["analysis"] == ANALYSIS) & (stats["method"] == method)
              & (stats["status"] == "ok")].copy()
    if d.empty or "smd" not in d:
        return None
    d = d[d["smd"].notna()]
    pooled = (d["cohort"] == "pooled").to_numpy()
    z = 1.959963984540054
    lo = np.where(pooled, d["ci_low"], d["smd"] - z * d["se_smd"])
    hi = np.where(pooled, d["ci_high"], d["smd"] + z * d["se_smd"])
    labels = [_esc(f"{s} · {c}") for s, c in zip(d["set"], d["cohort"], strict=True)]
    fig = go.Figure(go.Scatter(
        x=d["smd"], y=labels, mode="markers",
        marker={"color": np.where(d["q"] < 0.05, "#c0392b", "#555555"),
                "size": np.where(pooled, 14, 9),
                "symbol": np.where(pooled, "diamond", "square")},
        error_x={"type": "data", "symmetric": False, "array": hi - d["smd"],
                 "arrayminus": d["smd"] - lo, "color": "#777"},
        customdata=np.c_[d["p"], d["q"], d["n"]],
        hovertemplate="%{y}<br>g = %{x:.3f}<br>p = %{customdata[0]:.3g}, q = "
                      "%{customdata[1]:.3g}, n = %{customdata[2]}<extra></extra>"))
    fig.add_vline(x=0, line_dash="dash", line_color="#999")
    fig.update_layout(title="Tumour - non-tumour, Hedges' g (95% CI); ◆ random-effects pooled;"
                            " red: q < 0.05", height=120 + 24 * len(d), showlegend=False)
    fig.update_xaxes(title="Hedges' g (> 0: higher in tumour)")
    return _fig_html(fig, div_id)


TABLE_COLUMNS = ("cohort", "method", "set", "gene", "test", "n", "estimate", "ci_low",
                 "ci_high", "p", "q", "smd")


def _table(rows: pd.DataFrame) -> str:
    cols = [c for c in TABLE_COLUMNS if c in rows]
    head = "".join(f"<th>{_esc(c)}</th>" for c in cols)
    body = []
    for _, r in rows.iterrows():
        cells = "".join(f"<td>{_fmt(r[c]) if c not in ('cohort', 'method', 'set', 'gene', 'test') else _esc('' if pd.isna(r[c]) else r[c])}</td>"  # noqa: E501
                        for c in cols)
        body.append(f"<tr>{cells}</tr>")
    return (f'<table class="stats"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}'
            "</tbody></table>")


def section(stats: pd.DataFrame, data: list[TissueData], primary: str) -> str:
    """The whole section; "" when no cohort declares a comparison."""
    if not data:
        return ""
    rows = stats[stats["analysis"] == ANALYSIS]
    parts = ['<section id="tissue">', "<h2>Tumour vs adjacent non-tumour</h2>",
             "<p>Cohorts declaring a comparison group: tumour and non-tumour samples are "
             "<b>scored together in one matrix</b>, so these scores are relative to the samples "
             "scored together (they differ from the tumour-only scores used for survival and "
             "response, which are unchanged). Per set and per seed gene (expression): where "
             "patients have both samples, the paired Wilcoxon signed-rank test on tumour - "
             "non-tumour with the Hodges-Lehmann median difference and its 95% CI (n = pairs); "
             "otherwise the Mann-Whitney test with the Hodges-Lehmann shift (n = samples); both "
             "as R's wilcox.test(conf.int = TRUE). Cohorts are pooled on Hedges' g (the "
             "difference in within-group SD units: the HL estimates are on each cohort's score "
             "scale) by random effects (statistics.meta.method; see the methods section). "
             "BH FDR in a family of its own.</p>"]
    fig = forest(stats, primary, "tissue-forest")
    if fig:
        parts.append(f"<h3>All cohorts · {_esc(primary)}</h3>{fig}")
    for i, d in enumerate(data):
        parts.append(f"<h3>{_esc(d.cohort)}</h3>")
        counts = plain_groups(d.groups)[GROUP].value_counts()
        parts.append(f"<p>{int(counts.get(TUMOUR, 0))} tumour and "
                     f"{int(counts.get(NON_TUMOUR, 0))} non-tumour samples.</p>")
        f = paired_figure(d, stats, primary, f"tissue-paired-{i}")
        if f:
            parts.append(f)
    shown = rows[(rows["method"] == primary) | (rows["method"] == EXPRESSION)]
    shown = shown[shown["status"] == "ok"]
    if not shown.empty:
        parts.append(f"<h3>Tests ({_esc(primary)} scores and seed genes)</h3>")
        parts.append(_table(shown))
    nt = rows[rows["status"] != "ok"]
    if not nt.empty:
        items = "".join(f"<li>{_esc(r['cohort'])} · {_esc(r['set'])} ({_esc(r['method'])}): "
                        f"{_esc(r['note'])}</li>" for _, r in nt.iterrows())
        parts.append(f'<div class="note">Not tested:<ul>{items}</ul></div>')
    parts.append("</section>")
    return "\n".join(parts)
