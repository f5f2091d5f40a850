"""The report's opening summary (strongest associations per endpoint, in words), the
volcano section and the tier counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..plotdata import (
    detail_sets,
    is_detail,
)
from ..statistics import POOLED
from .data import ENDPOINT_WORDS, _outcome
from .figures import volcano_plot
from .markup import _fmt

SUMMARY_TOP = 10


def _endpoint_order(stats: pd.DataFrame) -> list[str]:
    """Endpoints present in the table: survival endpoints in their usual order, then response."""
    present = set(stats["endpoint"].dropna().astype(str))
    known = [e for e in ENDPOINT_WORDS if e in present]
    return known + sorted(present - set(known))


def _estimate_text(r: Any) -> str:
    """"1.60 (1.32-1.95)": an HR or AUC with its 95% CI, two decimals."""
    return f"{r.estimate:.2f} ({r.ci_low:.2f}-{r.ci_high:.2f})"


def _sentence(r: Any, endpoint: str, method: str) -> str:
    """The strongest association of one endpoint, in words."""
    where = (f"pooled over {int(r.n_cohorts)} cohorts" if r.cohort == POOLED and
             pd.notna(getattr(r, "n_cohorts", np.nan)) else f"in {r.cohort}")
    if r.q >= 0.05:
        return (f"No set reached q < 0.05 for {ENDPOINT_WORDS.get(endpoint, endpoint)} "
                f"({method}); the smallest q was {_fmt(r.q)} ({r.set}, {where}).")
    if endpoint == "response":
        way = "responders" if r.estimate > 0.5 else "non-responders"
        return (f"Strongest association with response ({method}): {r.set} scores were higher "
                f"in {way}, AUC {_estimate_text(r)}, q = {_fmt(r.q)}, {where}.")
    way = "shorter" if r.estimate > 1 else "longer"
    return (f"Strongest association with {ENDPOINT_WORDS.get(endpoint, endpoint)} ({method}): "
            f"higher {r.set} scores went with {way} survival, HR {_estimate_text(r)} per SD, "
            f"q = {_fmt(r.q)}, {where}.")


def summary_section(stats: pd.DataFrame, methods: list[str], primary: str, *,
                    top: int = SUMMARY_TOP) -> dict[str, Any]:
    """The opening section: per method x endpoint how many tests reached q < 0.05, and per
    endpoint the primary method's strongest associations (pooled estimates first, then single
    cohorts; each at most ``top``), with the same set's estimate under the other methods."""
    stats = _outcome(stats)
    ok = stats[(stats["status"] == "ok") & pd.to_numeric(stats["q"], errors="coerce").notna()]
    counts = []
    for m in methods:
        for ep in _endpoint_order(ok):
            d = ok[(ok["method"] == m) & (ok["endpoint"] == ep)]
            if d.empty:
                continue
            pooled = d["cohort"] == POOLED
            counts.append({"method": m, "endpoint": ENDPOINT_WORDS.get(ep, ep),
                           "tests": int((~pooled).sum()),
                           "significant": int((d.loc[~pooled, "q"] < 0.05).sum()),
                           "pooled": int(pooled.sum()),
                           "pooled_significant": int((d.loc[pooled, "q"] < 0.05).sum())})
    others = {(r.method, r.cohort, r.set, r.endpoint): (r.estimate, r.q)
              for r in ok[ok["method"] != primary].itertuples()}
    endpoints = []
    main = ok[ok["method"] == primary]
    for ep in _endpoint_order(main):
        d = main[main["endpoint"] == ep]
        is_pooled = d["cohort"] == POOLED
        groups = [("pooled across cohorts (random effects)", d[is_pooled]),
                  ("single cohorts", d[~is_pooled])]
        blocks = []
        for label, g in groups:
            g = g.sort_values(["q", "p", "set"], kind="stable").head(top)
            if g.empty:
                continue
            rows = []
            for r in g.itertuples():
                also = [f"{m} {_fmt(others[k][0])} (q {_fmt(others[k][1])})"
                        for m in methods if m != primary
                        and (k := (m, r.cohort, r.set, r.endpoint)) in others]
                rows.append({"set": r.set, "cohort": r.cohort, "estimate": _estimate_text(r),
                             "p": _fmt(r.p), "q": _fmt(r.q), "significant": r.q < 0.05,
                             "other_methods": "; ".join(also)})
            blocks.append({"label": label, "rows": rows})
        best = d[is_pooled] if (d.loc[is_pooled, "q"] < 0.05).any() else d
        best = best.sort_values(["q", "p", "set"], kind="stable")
        endpoints.append({
            "endpoint": ep, "words": ENDPOINT_WORDS.get(ep, ep),
            "effect": "AUC (95% CI)" if ep == "response" else "HR per SD (95% CI)",
            "sentence": _sentence(next(best.itertuples()), ep, primary), "blocks": blocks})
    return {"counts": counts, "endpoints": endpoints, "primary": primary, "top": top}


def volcano_section(stats: pd.DataFrame, methods: list[str]) -> list[dict[str, Any]]:
    """One volcano per method x endpoint with a test (survival endpoints, then response)."""
    stats = _outcome(stats)
    out = []
    for ep in _endpoint_order(stats):
        for m in methods:
            fig = volcano_plot(stats, m, ep, f"volcano-{ep}-{m}")
            if fig is not None:
                out.append({"method": m, "endpoint": ep, "response": ep == "response",
                            "figure": fig})
    return out


def tier_counts(stats: pd.DataFrame, primary: str, limit: int) -> dict[str, Any]:
    """How many tested rows are in each tier, and how many sets the figures draw."""
    stats = _outcome(stats)
    ok = stats[stats["status"] == "ok"]
    detail = is_detail(ok)
    return {"has_tier": "tier" in stats.columns, "detail": int(detail.sum()),
            "screening": int((~detail).sum()), "limit": limit,
            "detail_sets": len(detail_sets(stats, primary, limit=None))}

