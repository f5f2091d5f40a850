"""What the report is built from: the per-cohort inputs, extra sections, the page's
section order and the shared constants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..response import treated_subset

COLORS = {"high": "#c0392b", "low": "#2471a3"}


@dataclass
class CohortData:
    """What the report needs of one cohort."""

    cohort: str
    clinical: pd.DataFrame               # standard table, index sample_id
    coverage: pd.DataFrame
    scores: dict[str, pd.DataFrame]      # method -> samples x sets
    description: str = ""
    platform: str = ""
    n_genes: int = 0
    prepare_notes: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    #: per clinical mapping (os_event, response, arm, ...): samples kept and dropped
    clinical_mapping: list[dict[str, Any]] = field(default_factory=list)
    #: the treated arm of the response analysis (config clinical.response.arm; "" = all)
    response_arm: str = ""


@dataclass
class Section:
    """A report section built outside this module (genes, tissue, ...): ``html`` is markup the
    caller built with every public text escaped (:func:`escape`); it is placed after the
    built-in section ``after`` (an id of :data:`SECTION_ORDER`) and linked in the menu."""

    id: str
    title: str
    html: str
    after: str = "statistics"


#: Built-in sections, in page order (each an ``id`` in the page).
SECTION_ORDER = ("summary", "cohorts", "coverage", "survival", "response", "risk", "correlation",
                 "statistics", "genesets", "methods", "provenance")

ENDPOINT_WORDS = {"os": "overall survival", "rfs": "recurrence-free survival",
                  "dfs": "disease-free survival", "pfi": "progression-free interval",
                  "dss": "disease-specific survival", "response": "response"}


#: The analyses the summary, the volcano plots and the tier counts are about (outcome
#: associations); other rows (tumour vs non-tumour, ...) have their own sections.
OUTCOME_ANALYSES = ("cox_hr_per_sd", "auc")


def _outcome(stats: pd.DataFrame) -> pd.DataFrame:
    return stats[stats["analysis"].isin(OUTCOME_ANALYSES)]


def _response_subset(data: CohortData, scores: pd.DataFrame) -> pd.DataFrame:
    """Scored patients with a response label, in the cohort's response arm if set."""
    return treated_subset(data.clinical.reindex(scores.index), data.response_arm)
