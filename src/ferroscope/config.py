"""Config validation: JSON Schema 2020-12 plus the checks a schema cannot express.

Every failure raises one :class:`~ferroscope.errors.FerroscopeError` naming the config key or
the file, before any job runs (the Snakefile calls :func:`validate_config` at parse time).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource

from .constants import ENDPOINTS
from .constants import METHOD_NAMES as METHODS
from .errors import FerroscopeError

CONFIG_FILE = "config/config.yaml"


def _load_schemas(schema_dir: Path) -> tuple[dict[str, Any], Registry]:
    resources = []
    main: dict[str, Any] | None = None
    for path in sorted(schema_dir.glob("*.schema.yaml")):
        schema = yaml.safe_load(path.read_text())
        resources.append((path.name, Resource.from_contents(schema)))
        resources.append((schema["$id"], Resource.from_contents(schema)))
        if path.name == "config.schema.yaml":
            main = schema
    if main is None:
        raise FerroscopeError("config.schema.yaml not found.", file=str(schema_dir))
    return main, Registry().with_resources(resources)


def _key_path(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _format_error(err: jsonschema.ValidationError, config_file: str) -> FerroscopeError:
    where = _key_path(err.absolute_path)
    if err.validator == "additionalProperties":
        allowed = sorted((err.schema.get("properties") or {}).keys())
        extra = sorted(set(err.instance) - set(allowed)) if isinstance(err.instance, dict) else []
        key = extra[0] if extra else "?"
        full = f"{where}.{key}" if err.absolute_path else key
        return FerroscopeError(f"unknown key '{key}'.", file=config_file, field=full,
                               fix=f"remove it or use one of: {', '.join(allowed)}.")
    if "propertyNames" in err.absolute_schema_path:
        return FerroscopeError(
            f"cohort id '{err.instance}' is not allowed: ids become folder names, so they may "
            "hold only letters, digits, '_', '.' and '-' (no '/', no spaces).",
            file=config_file, field=f"{where}.{err.instance}",
            fix="rename the cohort, e.g. GSE14520_GPL571.")
    if err.validator == "required":
        return FerroscopeError(err.message + ".", file=config_file, field=where,
                               fix="add the key (see workflow/schemas/*.schema.yaml).")
    if err.validator == "enum":
        return FerroscopeError(f"value {err.instance!r} is not one of {err.validator_value}.",
                               file=config_file, field=where, fix="use one of the listed values.")
    return FerroscopeError(err.message + ".", file=config_file, field=where,
                           fix="see workflow/schemas/ for the expected form.")


def _fill_defaults(instance: Any, schema: Mapping[str, Any], registry: Registry) -> None:
    """Set ``default`` values of object properties in place (as snakemake.utils.validate does)."""
    if "$ref" in schema:
        ref = schema["$ref"]
        if ref.startswith("#"):
            return
        schema = registry.contents(ref.split("#")[0])
    if not isinstance(instance, dict):
        return
    for key, sub in (schema.get("properties") or {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            _fill_defaults(instance[key], sub, registry)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in instance.items():
            if key not in (schema.get("properties") or {}):
                _fill_defaults(value, extra, registry)


def validate_config(config: Mapping[str, Any], *, schema_dir: str | Path,
                    base_dir: str | Path = ".", config_file: str = CONFIG_FILE,
                    check_files: bool = True,
                    workflow_dir: str | Path | None = None) -> dict[str, Any]:
    """Validate ``config`` and return a copy with defaults filled in.

    Paths in config are relative to ``base_dir`` (the working directory); a gene-set file absent
    there but shipped under ``workflow_dir`` (ferroscope used as a Snakemake module from another
    folder) is replaced by the shipped copy's absolute path.

    Beyond the schema: gene-set and alias files exist; scoring methods are registered; the
    primary method is among the chosen ones; local cohorts name files that exist.
    """
    schema, registry = _load_schemas(Path(schema_dir))
    cfg = copy.deepcopy(dict(config))
    if cfg.get("cohorts_file"):  # a cohort set replacing `cohorts` (e.g. the public cohorts)
        path = Path(base_dir) / cfg["cohorts_file"]
        if not path.is_file():
            raise FerroscopeError(f"file '{cfg['cohorts_file']}' does not exist.",
                                  file=config_file, field="cohorts_file",
                                  fix="give a YAML file with a top-level `cohorts:` mapping.")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict) or not isinstance(loaded.get("cohorts"), dict):
            raise FerroscopeError("no top-level `cohorts:` mapping.", file=str(path),
                                  field="cohorts", fix="see config/public_cohorts.yaml.")
        cfg["cohorts"] = loaded["cohorts"]
        config_file = f"{config_file} + {cfg['cohorts_file']}"
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        # Unknown keys and bad ids are the most actionable; otherwise jsonschema's best match.
        first = next((e for e in errors if e.validator == "additionalProperties"
                      or "propertyNames" in e.absolute_schema_path), None)
        raise _format_error(first or jsonschema.exceptions.best_match(errors), config_file)
    _fill_defaults(cfg, schema, registry)

    base = Path(base_dir)
    unknown = [m for m in cfg["scoring"]["methods"] if m not in METHODS]
    if unknown:
        raise FerroscopeError(f"unknown scoring method(s) {unknown}.", file=config_file,
                              field="scoring.methods",
                              fix=f"use names from: {', '.join(sorted(METHODS))}.")
    primary = cfg["scoring"].setdefault("primary", cfg["scoring"]["methods"][0])
    if primary not in cfg["scoring"]["methods"]:
        raise FerroscopeError(f"primary method '{primary}' is not in scoring.methods.",
                              file=config_file, field="scoring.primary",
                              fix="add it to scoring.methods or choose one of them.")
    if check_files:
        for key in ("gmt", "aliases", "evidence"):
            path = base / cfg["genesets"][key]
            shipped = Path(workflow_dir) / cfg["genesets"][key] if workflow_dir else path
            if not path.is_file() and shipped.is_file():  # used as a module: the shipped copy
                cfg["genesets"][key] = str(shipped.resolve())
            elif not path.is_file():
                raise FerroscopeError(f"file '{cfg['genesets'][key]}' does not exist.",
                                      file=config_file, field=f"genesets.{key}",
                                      fix="correct the path (relative to the workflow folder).")
    for cid, cohort in cfg["cohorts"].items():
        if cohort["source"] == "local":
            for key in ("expression", "clinical_table"):
                if key not in cohort:
                    raise FerroscopeError("a local cohort needs this key.", file=config_file,
                                          field=f"cohorts.{cid}.{key}",
                                          fix="give the path of the file.")
                if check_files and not (base / cohort[key]).is_file():
                    raise FerroscopeError(f"file '{cohort[key]}' does not exist.",
                                          file=config_file, field=f"cohorts.{cid}.{key}",
                                          fix="correct the path (relative to the workflow folder).")
        if cohort["source"] == "tcga":
            for key in ("project", "cancer_type", "expression_file"):
                if not cohort.get(key):
                    raise FerroscopeError("a TCGA cohort needs this key.", file=config_file,
                                          field=f"cohorts.{cid}.{key}",
                                          fix="see config/public_cohorts.yaml for an example.")
        if cohort["source"] == "geo":
            for key in ("accession", "platform", "probe_table"):
                if not cohort.get(key):
                    raise FerroscopeError("a GEO cohort needs this key.", file=config_file,
                                          field=f"cohorts.{cid}.{key}",
                                          fix="see README 'Public cohorts' for an example.")
            pt = cohort["probe_table"]
            if ("file" in pt) == ("url" in pt):
                raise FerroscopeError("give exactly one of file and url.", file=config_file,
                                      field=f"cohorts.{cid}.probe_table",
                                      fix="file: a name under GEO's platform annot folder, or "
                                          "url: a full URL.")
        clin = cohort["clinical"]
        for ep in ENDPOINTS:
            if (f"{ep}_time" in clin) != (f"{ep}_event" in clin):
                raise FerroscopeError(f"{ep}_time and {ep}_event must be given together.",
                                      file=config_file, field=f"cohorts.{cid}.clinical",
                                      fix=f"add the missing {ep}_time or {ep}_event mapping.")
    return cfg

