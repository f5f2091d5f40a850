"""Cohort sources: where a cohort's raw expression and clinical tables come from.

Each module of this package (``demo``, ``local``, ``geo``, ``tcga``) declares one
:class:`Source` as ``SOURCE``; the package finds them (every module not starting with ``_``)
and registers them by name, the value of a cohort's ``source:`` key. Each source's config keys
are in ``workflow/schemas/sources/{name}.schema.yaml`` (applied when ``source`` names it).
The workflow asks the registry, never the source's name:

- ``downloads(cohort, mirrors)`` -> role -> (file name, URL): the files the ``fetch`` rule
  downloads to ``resources/cohorts/{cohort}/download/`` (geo, tcga);
- ``inputs(cohort, config)`` -> role -> path: other files the assembly reads (demo: gene sets);
- ``assemble(inputs, cohort, log)`` -> :class:`Assembled`: the raw expression (genes x
  samples) and clinical (one row per sample) tables, written by the ``cohort_source`` rule to
  ``resources/cohorts/{cohort}/``, with the mapping records to show in the report;
- ``raw_inputs(cohort)`` -> ``{expression, clinical}``: a source whose tables are already on disk
  (local) is not assembled; the prepare rule reads these paths directly, so a large matrix is
  never copied;
- ``validate(cid, cohort, ctx)``: the checks a schema cannot express (files exist, one of two
  keys, ...), raising :class:`~ferroscope.errors.FerroscopeError`.

This package and the source modules import no numerical library at module level: the
Snakefile reads the registry while parsing, before any job.
"""

from __future__ import annotations

import importlib
import json
import logging
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FerroscopeError

if TYPE_CHECKING:
    import pandas as pd

Cohort = Mapping[str, Any]
#: role -> (file name, URL)
Downloads = dict[str, tuple[str, str]]


@dataclass(frozen=True)
class CheckContext:
    """What a source's ``validate`` hook needs to name a problem and find files."""

    config_file: str
    base_dir: Path
    check_files: bool = True

    def error(self, cid: str, key: str, message: str, fix: str) -> FerroscopeError:
        """An error naming ``cohorts.{cid}.{key}`` in the config file."""
        return FerroscopeError(message, file=self.config_file, field=f"cohorts.{cid}.{key}",
                               fix=fix)

    def require_file(self, cid: str, cohort: Cohort, key: str) -> None:
        """The path under ``key`` names an existing file (relative to the working directory)."""
        if self.check_files and not (self.base_dir / cohort[key]).is_file():
            raise self.error(cid, key, f"file '{cohort[key]}' does not exist.",
                             "correct the path (relative to the workflow folder).")


@dataclass
class Assembled:
    """A source's raw tables, before the prepare step harmonises them."""

    expression: pd.DataFrame             # genes (or probes already mapped to symbols) x samples
    clinical: pd.DataFrame               # one row per sample; columns as the source names them
    #: mapping records (kept / dropped counts) shown with the clinical mappings in the report
    records: list[dict[str, Any]] = field(default_factory=list)
    #: number format of the expression file (the demo writes 4 decimals: the matrix is large)
    float_format: str = "%.10g"

    def write(self, expression: str | Path, clinical: str | Path,
              records: str | Path) -> None:
        """Write the three files of the ``cohort_source`` rule, each atomically."""
        from ..io import atomic_open, atomic_path, write_tsv

        with atomic_path(expression) as tmp:
            self.expression.to_csv(tmp, sep="\t", float_format=self.float_format,
                                   compression={"method": "gzip", "compresslevel": 1})
        write_tsv(self.clinical, clinical)
        with atomic_open(records, "w") as fh:
            json.dump(self.records, fh)


def _no_files(cohort: Cohort, *_: Any) -> dict:
    return {}


def _no_checks(cid: str, cohort: Cohort, ctx: CheckContext) -> None:
    return None


@dataclass(frozen=True)
class Source:
    """One cohort source. Exactly one of ``assemble`` and ``raw_inputs`` is given."""

    name: str
    #: one line for the docs: what the source is
    summary: str
    #: files to download: (cohort, mirrors) -> role -> (file name, URL)
    downloads: Callable[[Cohort, Mapping[str, str]], Downloads] = _no_files
    #: other inputs of the assembly: (cohort, config) -> role -> path
    inputs: Callable[[Cohort, Mapping[str, Any]], dict[str, str]] = _no_files
    #: (inputs by role, cohort, log) -> the raw tables
    assemble: Callable[[Mapping[str, str], Cohort, logging.Logger], Assembled] | None = None
    #: tables already on disk, read by the prepare step: cohort -> {expression, clinical}
    raw_inputs: Callable[[Cohort], dict[str, str]] | None = None
    #: checks a schema cannot express
    validate: Callable[[str, Cohort, CheckContext], None] = _no_checks
    #: bump when the assembly's output changes: a new version re-assembles the cohort
    version: str = "1"
    #: job resource estimates of the assembly (config `resources: {cohort_source: ...}` wins)
    mem_mb: int = 2000
    runtime_min: int = 15

    def __post_init__(self) -> None:
        if (self.assemble is None) == (self.raw_inputs is None):
            raise ValueError(f"source {self.name!r}: give exactly one of assemble and "
                             "raw_inputs")


REGISTRY: dict[str, Source] = {}


def register(source: Source) -> Source:
    """Add ``source`` to the registry (a name may be registered once)."""
    if source.name in REGISTRY and REGISTRY[source.name] is not source:
        raise ValueError(f"cohort source {source.name!r} is registered twice")
    REGISTRY[source.name] = source
    return source


def get(name: str) -> Source:
    """The registered source ``name``, or an error listing the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise FerroscopeError(f"unknown cohort source '{name}'.", field="source",
                              fix=f"use one of: {', '.join(names())}.") from None


def names() -> list[str]:
    """Names of the registered sources, sorted."""
    return sorted(REGISTRY)


#: cohort keys read after the assembly (prepare step, report), never by a source's assembly
AFTER_ASSEMBLY = ("clinical", "expression_scale", "expression_limits", "description",
                  "evidence")


def assembly_config(cohort: Cohort) -> dict[str, Any]:
    """The part of a cohort's config its assembly reads: the ``cohort_source`` rule's param,
    so that editing a clinical mapping re-runs the prepare step but not the assembly."""
    return {k: v for k, v in cohort.items() if k not in AFTER_ASSEMBLY}


def assemble(cohort: Cohort, inputs: Mapping[str, str], log: logging.Logger) -> Assembled:
    """Assemble a cohort through its source and check the result is a usable pair."""
    source = get(cohort["source"])
    if source.assemble is None:
        raise FerroscopeError(f"source '{source.name}' is read in place, not assembled.",
                              field="source", fix="use the source's raw_inputs.")
    out = source.assemble(inputs, cohort, log)
    expr = out.expression
    if expr.shape[0] == 0 or expr.shape[1] == 0:
        raise FerroscopeError(
            f"source '{source.name}' assembled an empty expression table ({expr.shape[0]} "
            f"genes x {expr.shape[1]} samples).", file=", ".join(map(str, inputs.values())),
            fix="check the cohort's files and its sample selection in config.")
    if expr.columns.duplicated().any():
        dup = expr.columns[expr.columns.duplicated()][0]
        raise FerroscopeError(f"sample '{dup}' appears twice in the assembled expression table.",
                              file=", ".join(map(str, inputs.values())),
                              fix="check the cohort's files (one column per sample).")
    return out


def _discover() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            register(importlib.import_module(f"{__name__}.{mod.name}").SOURCE)


_discover()
