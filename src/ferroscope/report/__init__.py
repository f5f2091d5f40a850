"""The collaborator report: one self-contained HTML file (plotly.js embedded once).

It scales with the gene-set collection: the page opens with a summary of the strongest
associations (``id="summary"``), shows one volcano plot per method and endpoint for every tested
set, draws per-set figures (forest, Kaplan-Meier, ROC, box, correlation) only for the detail tier
(see :mod:`ferroscope.plotdata`), and holds coverage and statistics as JSON tables that the
page's own script sorts, filters and pages (no HTML row per result, no CDN). See docs/report.md.

Sections are built by small functions composed in :func:`render`; other modules add theirs
through ``render(..., sections=[Section(...)])``.

All text reaches the page through Jinja2 with autoescaping on; text placed inside plotly
figures (set names, cohort descriptions) is HTML-escaped first, because plotly renders a subset
of HTML in labels; JSON table data is written with ``<``, ``>`` and ``&`` as unicode escapes
and shown by the script as text (never as HTML).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jinja2
import pandas as pd
from plotly.offline import get_plotlyjs

from .. import __version__
from ..plotdata import MAX_FIGURE_SETS
from .data import (
    COLORS,
    ENDPOINT_WORDS,
    OUTCOME_ANALYSES,
    SECTION_ORDER,
    CohortData,
    Section,
    _outcome,
    _response_subset,
)
from .figures import (
    _time_grid,
    correlation_heatmap,
    forest_plot,
    km_figure,
    response_box,
    roc_figure,
    volcano_plot,
)
from .markup import _esc, _fig_html, _fmt, escape, json_for_script
from .risk import RiskData, risk_section
from .sections import (
    cohort_block,
    cohort_summary,
    download_records,
    mapping_summary,
    method_table,
    missing_endpoints,
    scoring_runs_table,
)
from .summary import SUMMARY_TOP, summary_section, tier_counts, volcano_section
from .tables import (
    COVERAGE_COLUMNS,
    MEDIAN_COLUMNS,
    NOT_REACHED,
    STAT_COLUMNS,
    coverage_table,
    show_medians,
    statistics_table,
    table_json,
)

#: The report's API (``from ferroscope.report import ...``); the modules of the package are
#: data, markup, tables, figures, summary, sections, risk (+ genes, tissue, models).
__all__ = [
    "COLORS",
    "COVERAGE_COLUMNS",
    "CohortData",
    "ENDPOINT_WORDS",
    "MAX_FIGURE_SETS",
    "MEDIAN_COLUMNS",
    "NOT_REACHED",
    "OUTCOME_ANALYSES",
    "RiskData",
    "SECTION_ORDER",
    "STAT_COLUMNS",
    "SUMMARY_TOP",
    "Section",
    "_esc",
    "_fig_html",
    "_fmt",
    "_outcome",
    "_response_subset",
    "_time_grid",
    "cohort_block",
    "cohort_summary",
    "correlation_heatmap",
    "coverage_table",
    "download_records",
    "escape",
    "forest_plot",
    "json_for_script",
    "km_figure",
    "mapping_summary",
    "method_table",
    "missing_endpoints",
    "render",
    "response_box",
    "risk_section",
    "roc_figure",
    "scoring_runs_table",
    "show_medians",
    "statistics_table",
    "summary_section",
    "table_json",
    "tier_counts",
    "volcano_plot",
    "volcano_section",
]


def render(stats: pd.DataFrame, cohorts: list[CohortData], config: dict[str, Any], *,
           genesets: list[dict[str, Any]], inputs: list[dict[str, Any]],
           software: dict[str, str], created: str, risk: RiskData | None = None,
           downloads: list[dict[str, Any]] | None = None,
           scoring_runs: list[dict[str, Any]] | None = None, tissue: str = "",
           sections: list[Section] | None = None,
           max_figure_sets: int = MAX_FIGURE_SETS) -> str:
    """Render the whole report to a string (``downloads``: :func:`download_records` rows;
    ``scoring_runs``: the score step's JSON sidecars, see :func:`scoring_runs_table`;
    ``tissue``: :func:`ferroscope.report.tissue.section` HTML; ``sections``: extra sections
    built by other modules; ``max_figure_sets``: most sets drawn in one per-set figure)."""
    methods = list(config["scoring"]["methods"])
    primary = config["scoring"].get("primary", methods[0])
    limit = max_figure_sets
    forests = {m: forest_plot(stats, m, "cox_hr_per_sd", f"forest-os-{m}", limit=limit)
               for m in methods}
    auc_forests = {m: forest_plot(stats, m, "auc", f"forest-auc-{m}", limit=limit)
                   for m in methods}
    per_cohort = [cohort_block(d, i, stats, config, primary, limit)
                  for i, d in enumerate(cohorts)]
    extra = list(sections or [])
    known = set(SECTION_ORDER)
    for sec in extra:
        if sec.after not in known:
            raise ValueError(f"section {sec.id!r}: after={sec.after!r} is not one of "
                             f"{', '.join(SECTION_ORDER)}")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("ferroscope") / "templates")),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined)
    env.filters["fmt"] = _fmt
    template = env.get_template("report.html.j2")
    return template.render(
        title=config.get("report", {}).get("title", "ferroscope report"),
        plotlyjs=get_plotlyjs(), version=__version__, created=created, config=config,
        config_json=json.dumps(config, indent=2, sort_keys=True, default=str),
        methods=methods, primary=primary, forests=forests, auc_forests=auc_forests,
        cohorts=per_cohort, summary=summary_section(stats, methods, primary),
        volcanoes=volcano_section(stats, methods), tiers=tier_counts(stats, primary, limit),
        stats_json=json_for_script(statistics_table(stats)),
        coverage_json=json_for_script(coverage_table(cohorts)),
        genesets=genesets, inputs=inputs, software=software, downloads=downloads or [],
        scoring_runs=scoring_runs_table(scoring_runs or []),
        method_info=method_table(methods), extra_sections=extra,
        n_sig=int((stats["q"] < 0.05).sum()), n_tests=int(stats["p"].notna().sum()),
        risk=risk_section(risk, stats),
        tissue=tissue,  # ferroscope.report.tissue.section (HTML, already escaped)
    )

