"""The report's cohort, methods and provenance sections (what each cohort kept and
dropped, download records, method references, scoring runs) and the per-cohort block.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..survival import median_followup
from .data import CohortData, _outcome
from .figures import correlation_heatmap, km_figure, response_box, roc_figure
from .tables import NOT_REACHED


def mapping_summary(records: list[dict[str, Any]]) -> list[str]:
    """One line per clinical mapping: what it kept and what it dropped, and why."""
    lines = []
    for r in records:
        why = [f"{k.replace('_', ' ')} {v}" for k, v in r.items()
               if k in ("events", "censored", "responders", "non_responders", "excluded",
                        "missing", "event_missing", "time_missing") and v]
        if isinstance(r.get("arms"), dict):
            why = [f"{k} {v}" for k, v in r["arms"].items()] + why
        lines.append(f"{r['mapping']} ({r['column']}): {r['kept']} kept, {r['dropped']} dropped"
                     + (f" ({', '.join(why)})" if why else ""))
    return lines


def missing_endpoints(data: CohortData, endpoints: list[str]) -> list[str]:
    """Endpoints of survival.endpoints that this cohort does not map (not tested in it)."""
    return [ep for ep in endpoints if f"{ep}_time_months" not in data.clinical.columns]


def cohort_summary(data: CohortData) -> dict[str, Any]:
    c = data.clinical
    row: dict[str, Any] = {"cohort": data.cohort, "description": data.description,
                           "platform": data.platform, "samples": len(c), "genes": data.n_genes}
    if "os_time_months" in c.columns:
        ok = c[["os_time_months", "os_event"]].dropna()
        row["os_n"] = len(ok)
        row["os_events"] = int(ok["os_event"].sum())
        followup = median_followup(ok["os_time_months"], ok["os_event"])
        row["followup"] = NOT_REACHED if np.isinf(followup) else followup
    if "response" in c.columns:
        r = c["response"].dropna()
        row["responders"] = f"{int((r == 1).sum())} / {len(r)}"
    n = data.prepare_notes
    row["scale"] = n.get("scale") or str(n.get("scale_detected", "")).split(" ")[0]
    row["score_meaning"] = n.get("score_meaning", "")
    dropped = n.get("missing_genes_dropped", {})
    row["missing"] = (f"{len(dropped)} genes dropped (missing in > "
                      f"{100 * n.get('missing_max_fraction', 0.2):.0f}% of samples); "
                      f"{n.get('missing_cells_kept', 0)} missing cells left in "
                      f"{n.get('missing_genes_kept', 0)} genes"
                      if n.get("missing_cells_input") else "none")
    return row


def download_records(cohort: str, files: Iterable[str | Path]) -> list[dict[str, Any]]:
    """The download record of each of a cohort's public files, for the provenance section.

    Read from the manifest ``<file>.sha256.json`` the fetch step writes (url, bytes, sha256,
    fetched); a file without one (placed by hand) is listed with its own size and checksum and
    an empty URL, never silently left out.
    """
    from ..download import manifest_path
    from ..errors import FerroscopeError
    from ..io import sha256sum

    out = []
    for f in map(Path, files):
        man = manifest_path(f)
        if man.is_file():
            try:
                meta = json.loads(man.read_text())
                rec = {k: meta[k] for k in ("url", "bytes", "sha256", "fetched")}
            except (ValueError, KeyError) as exc:
                raise FerroscopeError(f"download record is unreadable ({exc}).", file=str(man),
                                      fix="delete it and the downloaded file, then run the "
                                          "workflow again to fetch the file anew.") from exc
        else:
            rec = {"url": "", "bytes": f.stat().st_size, "sha256": sha256sum(f),
                   "fetched": "no download record (file placed by hand)"}
        out.append({"cohort": cohort, "file": f.name, **rec})
    return out


def method_table(methods: list[str]) -> list[dict[str, str]]:
    """Name, summary and reference of each method of the run, as each method module declares
    them (``METHOD`` in ``ferroscope.scoring.<name>``); an unknown name stops, naming the
    registered ones."""
    from ..scoring import method

    return [{"name": m, "summary": method(m).summary, "reference": method(m).reference}
            for m in methods]


def scoring_runs_table(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the report's scoring table from the score step's JSON sidecars
    (results/<cohort>/scores/<method>.json): per cohort x method the missing cells, NA
    scores and, for GSVA, the kernel used and why (kcdf auto decides per cohort)."""
    rows = []
    for r in records:
        rows.append({
            "cohort": r.get("cohort", ""), "method": r.get("method", ""),
            "samples": r.get("n_samples", ""), "genes": r.get("n_genes", ""),
            "kernel": r.get("kcdf", ""), "reason": r.get("kcdf_reason", ""),
            "missing_cells": r.get("missing_cells", 0),
            "missing_member_cells": r.get("missing_member_cells", 0),
            "na_scores": f"{r.get('na_scores', 0)} / {r.get('n_scores', 0)}",
            "policy": r.get("missing_policy", ""),
        })
    return rows


def cohort_block(d: CohortData, i: int, stats: pd.DataFrame, config: dict[str, Any],
                 primary: str, limit: int) -> dict[str, Any]:
    """Everything the page shows of one cohort (its figures drawn for the detail tier)."""
    return {
        "summary": cohort_summary(d),
        "km": km_figure(d, primary, stats, f"km-{i}", limit=limit),
        "box": response_box(d, primary, f"box-{i}", stats, limit=limit),
        "roc": roc_figure(d, primary, stats, f"roc-{i}", limit=limit),
        "heatmap": correlation_heatmap(d, primary, f"heat-{i}", _outcome(stats), limit=limit),
        "notes": d.prepare_notes,
        "mapping": mapping_summary(d.clinical_mapping),
        "missing_endpoints": missing_endpoints(
            d, list(config.get("survival", {}).get("endpoints", []))),
        "not_tested": stats[(stats["cohort"] == d.cohort) & (stats["status"] != "ok")]
        .to_dict("records"),
        "not_scored": d.coverage[~d.coverage["scored"].astype(bool)].to_dict("records"),
    }

