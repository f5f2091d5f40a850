"""The prepared cohort's ``adata.uns``: what the prepare step writes and later steps read.

One dataclass, written by :func:`ferroscope.prepare.build_anndata` and read with
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
    #: what the prepare step did (:class:`ferroscope.prepare.PrepareNotes` as a dict)
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
