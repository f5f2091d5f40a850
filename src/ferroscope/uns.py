"""The prepared cohort's ``adata.uns``: what the prepare step writes and later steps read.

:class:`PrepareNotes` records what the prepare step did; :class:`PreparedUns` is the whole
``uns``, written by :func:`ferroscope.prepare.build_anndata` and read with
:meth:`PreparedUns.read` (:func:`ferroscope.checks.read_h5ad` checks the required keys). Nested
values are stored as JSON strings: h5ad keeps them losslessly whatever their nesting.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: keys every prepared cohort has; the others default when absent (older files, test fixtures)
REQUIRED = ("cohort", "prepare", "provenance")
_JSON = ("prepare", "provenance", "clinical_mapping")


@dataclass(frozen=True)
class PreparedUns:
    """The ``uns`` of ``results/{cohort}/prepared.h5ad``."""

    cohort: str
    #: what the prepare step did (:class:`PrepareNotes` as a dict)
    prepare: dict[str, Any]
    #: inputs with checksums, parameters, software versions (:mod:`ferroscope.provenance`)
    provenance: dict[str, Any]
    #: per clinical mapping: samples kept and dropped (the report's cohort table)
    clinical_mapping: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""
    platform: str = ""

    def write(self, uns: Any) -> None:
        """Store every field in ``uns`` (an AnnData's ``uns`` mapping)."""
        for key, value in self.__dict__.items():
            uns[key] = json.dumps(value) if key in _JSON else value

    @staticmethod
    def missing(uns: Mapping[str, Any]) -> list[str]:
        """Required keys absent from ``uns``."""
        return [k for k in REQUIRED if k not in uns]

    @classmethod
    def read(cls, uns: Mapping[str, Any]) -> PreparedUns:
        """The fields stored in ``uns`` (optional ones default when absent)."""
        if cls.missing(uns):
            raise KeyError(f"uns lacks {cls.missing(uns)} (not a prepared cohort)")
        values = {k: uns[k] for k in cls.__dataclass_fields__ if k in uns}
        return cls(**{k: json.loads(v) if k in _JSON else str(v) for k, v in values.items()})


@dataclass
class PrepareNotes:
    """What the prepare step did (:mod:`ferroscope.expression`, :mod:`ferroscope.prepare`),
    stored as ``PreparedUns.prepare`` and shown in the report's preparation notes."""

    scale_detected: str = ""
    scale: str = ""
    score_meaning: str = ""
    log_transformed: bool = False
    duplicates_collapsed: int = 0
    duplicated_genes: list[str] = field(default_factory=list)
    empty_names_dropped: int = 0
    excel_mangled: list[str] = field(default_factory=list)
    missing_max_fraction: float = 0.2  # expression.DEFAULT_MISSING
    missing_cells_input: int = 0
    missing_genes_dropped: dict[str, float] = field(default_factory=dict)
    missing_cells_dropped: int = 0
    missing_cells_kept: int = 0
    missing_genes_kept: int = 0
    plausible_range: str = ""
    sample_ids_stripped: list[str] = field(default_factory=list)
    samples_without_clinical: list[str] = field(default_factory=list)
    clinical_without_expression: int = 0
    clinical_ids_stripped: int = 0
    clinical_workbook: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}
