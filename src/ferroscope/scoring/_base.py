"""Shared types for scoring methods: the registry entry (:class:`Method`), a method's typed
settings (:class:`Settings`, one subclass per method that has any) and what every method gets
besides its settings (:class:`Run`)."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..errors import FerroscopeError

#: The missing-value policies (``scoring.missing``): see the schema.
MISSING = ("na.rm", "everything")

#: Arguments of :func:`ferroscope.scoring.score_sets` that are not method settings, with where
#: each comes from; a method setting of such a name is refused as misplaced, saying so.
RUN_KEYS = {
    "missing": "scoring.missing, an argument of score_sets for every method",
    "min_size": "genesets.min_genes, an argument of score_sets for every method",
    "chunk_size": "scoring.chunk_size, an argument of score_sets for every method",
    "info": "an argument of score_sets",
    "log_transformed": "an argument of score_sets (the prepare step's record)",
    "integer": "decided by GSVA from score_sets' log_transformed (the prepare step's record)",
}


@dataclass(frozen=True)
class Settings:
    """A method's settings: a frozen dataclass whose fields are the keys of ``scoring.<method>``
    in the config, with their types, defaults and allowed values (``Literal``), and a lower bound
    in the field's ``metadata["minimum"]``. This base class has no field: the settings of a
    method that takes none.

    :meth:`of` builds settings from a config mapping and refuses an unknown or misplaced key,
    a wrong type, a value out of range or not among the allowed ones, naming the valid ones.
    ``tests/test_scoring.py`` checks every subclass against ``scoring.<method>`` in
    ``workflow/schemas/config.schema.yaml``.
    """

    def counts_duplicates(self) -> bool:
        """Set members recorded as duplicates count again (GSVA 1.46); read by score_sets."""
        return False

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def spec(cls) -> dict[str, dict[str, Any]]:
        """Per key: ``type`` (bool, int, float or str), ``default``, ``enum`` (allowed values,
        or None) and ``minimum`` (or None): what the config schema block must say."""
        hints = typing.get_type_hints(cls)
        out = {}
        for f in dataclasses.fields(cls):
            hint = hints[f.name]
            enum = typing.get_args(hint) if typing.get_origin(hint) is Literal else None
            kind = type(enum[0]) if enum else hint
            out[f.name] = {"type": kind, "default": f.default, "enum": enum,
                           "minimum": f.metadata.get("minimum")}
        return out

    @classmethod
    def of(cls, given: Mapping[str, Any] | Settings | None, method: str,
           elsewhere: Mapping[str, list[str]] | None = None) -> Settings:
        """Settings from a mapping of config keys (missing keys take their defaults).

        ``elsewhere``: key -> the other methods that take it, to name where a misplaced
        setting belongs.
        """
        if isinstance(given, cls):
            return given
        if isinstance(given, Settings):
            raise FerroscopeError(f"{type(given).__name__} given for method '{method}'.",
                                  field=f"scoring.{method}",
                                  fix=f"pass {cls.__name__} or a mapping of its keys.")
        given = dict(given or {})
        spec = cls.spec()
        valid = ", ".join(spec) if spec else "none (this method takes no settings)"
        values = {}
        for key, value in given.items():
            if key not in spec:
                others = (elsewhere or {}).get(key)
                misplaced = (f" It is not a method setting: it is {RUN_KEYS[key]}."
                             if key in RUN_KEYS else
                             f" It is a setting of {', '.join(others)}." if others else "")
                raise FerroscopeError(
                    f"unknown setting '{key}' for scoring method '{method}'.{misplaced}",
                    field=f"scoring.{method}.{key}", fix=f"valid settings of {method}: {valid}.")
            values[key] = _checked(method, key, value, spec[key])
        return cls(**values)


def _checked(method: str, key: str, value: Any, spec: Mapping[str, Any]) -> Any:
    kind, enum, minimum = spec["type"], spec["enum"], spec["minimum"]
    where = f"scoring.{method}.{key}"
    if enum is not None:
        if value not in enum or type(value) is not kind:
            allowed = ", ".join(str(v) for v in enum)
            quote = " (quoted in YAML)" if any(_numeric(v) for v in enum) else ""
            raise FerroscopeError(f"{key} {value!r} is not allowed for {method}; allowed: "
                                  f"{allowed}.", field=where,
                                  fix=f"use one of {allowed}{quote}.")
        return value
    ok = (isinstance(value, bool) if kind is bool else
          isinstance(value, int) and not isinstance(value, bool) if kind is int else
          isinstance(value, int | float) and not isinstance(value, bool) if kind is float else
          isinstance(value, kind))
    if not ok:
        word = _WORDS.get(kind, kind.__name__)
        raise FerroscopeError(f"{key} {value!r} is not {word}.", field=where,
                              fix=f"give {word} (default {spec['default']!r}).")
    if minimum is not None and value < minimum:
        raise FerroscopeError(f"{key} {value!r} is below its minimum {minimum}.",
                              field=where, fix=f"give a value >= {minimum}.")
    return float(value) if kind is float else value


_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


def _numeric(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Run:
    """What :func:`ferroscope.scoring.score_sets` passes every method besides its settings.

    missing: the missing-value policy (:data:`MISSING`); min_size: the fewest measured members a
    score needs under ``na.rm``; chunk_size: samples scored at once; log_transformed: the
    prepare step log-transformed the cohort (GSVA's ``kcdf = "auto"`` reads it); info: a dict
    receiving what the method reports (GSVA: the kernel and why), or None.
    """

    missing: str = "na.rm"
    min_size: int = 1
    chunk_size: int = 1000
    log_transformed: bool = False
    info: dict | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.missing not in MISSING:
            raise FerroscopeError(f"unknown missing-value policy '{self.missing}'.",
                                  field="scoring.missing", fix="use 'na.rm' or 'everything'.")

    @property
    def na_rm(self) -> bool:
        return self.missing == "na.rm"


#: the defaults of a method called directly (tests, benchmarks)
DEFAULT_RUN = Run()
NO_SETTINGS = Settings()


#: A scoring function: ``score(x, sets, settings, run)`` with an expression matrix (genes x
#: samples, float, NaN = missing), a list of index arrays (one per gene set, rows of the
#: matrix), the method's :class:`Settings` and the :class:`Run`; returns a (sets x samples)
#: float64 array.
ScoreFunc = Callable[..., np.ndarray]


@dataclass(frozen=True)
class Method:
    """A registered scoring method.

    settings: the method's :class:`Settings` subclass (the base class: no settings).
    single_sample: the score of a sample does not depend on the other samples, so the matrix
    may be scored in chunks of samples (memory bound). Methods that standardise genes across
    samples (mean_z) are not single-sample.
    post: optional whole-matrix step after all chunks, ``post(scores, settings)`` (ssGSEA's
    range normalisation).
    """

    name: str
    func: ScoreFunc
    single_sample: bool
    summary: str
    reference: str
    settings: type[Settings] = Settings
    post: Callable[[np.ndarray, Any], np.ndarray] | None = None
