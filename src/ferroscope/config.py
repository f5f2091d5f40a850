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

from . import sources
from .constants import ENDPOINTS
from .constants import METHOD_NAMES as METHODS
from .errors import FerroscopeError

CONFIG_FILE = "config/config.yaml"


def _load_schemas(schema_dir: Path) -> tuple[dict[str, Any], Registry]:
    """The config schema and a registry of every schema, with the cohort sources composed.

    Each ``sources/NAME.schema.yaml`` holds the keys of one cohort source; the cohort schema
    gets ``source: {enum: [NAME, ...]}`` and one ``if source == NAME then $ref`` per fragment,
    so that adding a source needs no edit here or in cohort.schema.yaml. Fragments and the
    registered sources (:mod:`ferroscope.sources`) must name the same sources.
    """
    resources = []
    main: dict[str, Any] | None = None
    cohort: dict[str, Any] | None = None
    fragments = sorted((schema_dir / "sources").glob("*.schema.yaml"))
    for path in sorted(schema_dir.glob("*.schema.yaml")) + fragments:
        schema = yaml.safe_load(path.read_text())
        if path.name == "cohort.schema.yaml":
            cohort = schema
        resources.append((path.relative_to(schema_dir).as_posix(), schema))
        resources.append((schema["$id"], schema))
        if path.name == "config.schema.yaml":
            main = schema
    if main is None or cohort is None:
        raise FerroscopeError("config.schema.yaml or cohort.schema.yaml not found.",
                              file=str(schema_dir))
    names = [p.name.removesuffix(".schema.yaml") for p in fragments]
    if names != sources.names():
        raise FerroscopeError(
            f"the cohort sources with a schema ({names}) are not the registered ones "
            f"({sources.names()}).", file=str(schema_dir / "sources"),
            fix="give every module of ferroscope/sources/ a workflow/schemas/sources/"
                "NAME.schema.yaml and every fragment a module.")
    cohort["properties"]["source"]["enum"] = names
    cohort["allOf"] = [{"if": {"properties": {"source": {"const": n}}, "required": ["source"]},
                        "then": {"$ref": f"sources/{n}.schema.yaml"}} for n in names]
    return main, Registry().with_resources(
        (uri, Resource.from_contents(schema)) for uri, schema in resources)


def _source_schema(instance: Any, schema: Mapping[str, Any],
                   registry: Registry) -> Mapping[str, Any]:
    """The fragment of the cohort source ``instance`` names, if ``schema`` composes sources."""
    for entry in schema.get("allOf", []):
        if "if" in entry and jsonschema.Draft202012Validator(entry["if"]).is_valid(instance):
            return registry.contents(entry["then"]["$ref"])
    return {}


def _key_path(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _allowed_keys(err: jsonschema.ValidationError, registry: Registry) -> list[str]:
    """Keys allowed where ``err`` happened: the schema's and, for a cohort, its source's."""
    keys = set(err.schema.get("properties") or {})
    if err.validator == "unevaluatedProperties":
        keys |= set(_source_schema(err.instance, err.schema, registry).get("properties") or {})
    return sorted(keys)


def _unknown_keys(err: jsonschema.ValidationError, registry: Registry) -> list[str]:
    """Keys of the instance not allowed there (none when a cohort's source is unknown: the
    source's own error says more)."""
    if not isinstance(err.instance, dict) or (
            err.validator == "unevaluatedProperties"
            and not _source_schema(err.instance, err.schema, registry)):
        return []
    return sorted(set(err.instance) - set(_allowed_keys(err, registry)))


def _format_error(err: jsonschema.ValidationError, config_file: str,
                  registry: Registry) -> FerroscopeError:
    where = _key_path(err.absolute_path)
    if err.validator in ("additionalProperties", "unevaluatedProperties"):
        allowed = _allowed_keys(err, registry)
        extra = _unknown_keys(err, registry)
        key = extra[0] if extra else "?"
        full = f"{where}.{key}" if err.absolute_path else key
        source = err.instance.get("source") if err.validator == "unevaluatedProperties" else None
        return FerroscopeError(
            f"unknown key '{key}'" + (f" for a {source} cohort" if source else "") + ".",
            file=config_file, field=full, fix=f"remove it or use one of: {', '.join(allowed)}.")
    if "propertyNames" in err.absolute_schema_path:
        return FerroscopeError(
            f"cohort id '{err.instance}' is not allowed: ids become folder names, so they may "
            "hold only letters, digits, '_', '.' and '-' (no '/', no spaces).",
            file=config_file, field=f"{where}.{err.instance}",
            fix="rename the cohort, e.g. GSE14520_GPL571.")
    if err.validator == "required":
        key = next((k for k in err.validator_value if k not in err.instance), "?")
        source = err.instance.get("source") if "then" in err.absolute_schema_path else None
        return FerroscopeError(
            (f"a {source} cohort needs this key." if source else err.message + "."),
            file=config_file, field=f"{where}.{key}" if err.absolute_path else key,
            fix="add the key (see workflow/schemas/*.schema.yaml"
                + (f" and workflow/schemas/sources/{source}.schema.yaml)." if source else ")."))
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
    fragment = _source_schema(instance, schema, registry)
    if fragment:  # a cohort: the defaults of its source's keys
        _fill_defaults(instance, fragment, registry)


#: names under results/ that are not cohorts: a cohort with one of these ids would write its
#: folder over a workflow output (results/<cohort>/...)
RESERVED_COHORT_IDS = ("report.html", "statistics.tsv", "figures", "models", "signatures")


def _check_cohort_ids(cohorts: Any, config_file: str) -> None:
    """Cohort ids are text (YAML reads an unquoted 2019 as a number) and not an output's name."""
    if not isinstance(cohorts, Mapping):
        return
    for cid in cohorts:
        if not isinstance(cid, str):
            raise FerroscopeError(
                f"cohort id {cid!r} is read by YAML as a {type(cid).__name__}, not as text "
                "(an unquoted number or yes/no).", file=config_file, field=f"cohorts.{cid}",
                fix=f"quote the id (cohorts: {{'{cid}': ...}}) or start it with a letter, e.g. "
                    f"cohort_{cid}.")
        if cid.lower() in RESERVED_COHORT_IDS:
            raise FerroscopeError(
                f"cohort id '{cid}' is the name of a workflow output (results/{cid}), so the "
                "cohort's folder would collide with it.", file=config_file,
                field=f"cohorts.{cid}",
                fix=f"rename the cohort (not one of: {', '.join(RESERVED_COHORT_IDS)}).")


def check_mirrors(mirrors: Mapping[str, str], config_file: str = CONFIG_FILE) -> None:
    """Each ``mirrors.<key>`` is an absolute http(s) URL with a host, or a file:// URL."""
    from urllib.parse import urlsplit

    for key, url in mirrors.items():
        parts = urlsplit(str(url).strip())
        scheme = parts.scheme.lower() if "://" in str(url) else ""
        if not scheme:
            problem = "has no scheme (http://, https:// or file://)"
        elif scheme not in ("http", "https", "file"):
            problem = f"uses the unsupported scheme '{scheme}'"
        elif scheme != "file" and not parts.hostname:
            problem = "names no host"
        else:
            continue
        raise FerroscopeError(
            f"mirror URL {url!r} {problem}.", file=config_file, field=f"mirrors.{key}",
            fix="give an absolute URL such as https://ftp.ncbi.nlm.nih.gov/geo, "
                "http://mirror.example.org/geo or file:///data/mirror/geo.")


def validate_config(config: Mapping[str, Any], *, schema_dir: str | Path,
                    base_dir: str | Path = ".", config_file: str = CONFIG_FILE,
                    check_files: bool = True,
                    workflow_dir: str | Path | None = None) -> dict[str, Any]:
    """Validate ``config`` and return a copy with defaults filled in.

    Paths in config are relative to ``base_dir`` (the working directory); a gene-set file absent
    there but shipped under ``workflow_dir`` (ferroscope used as a Snakemake module from another
    folder) is replaced by the shipped copy's absolute path.

    Beyond the schema: gene-set and alias files exist; scoring methods are registered; the
    primary method is among the chosen ones; each cohort passes its source's ``validate`` hook
    (:mod:`ferroscope.sources`: a local cohort's files exist, a GEO cohort has a platform
    table unless its rows are symbols, ...).
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
    _check_cohort_ids(cfg.get("cohorts"), config_file)
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        # Unknown keys and bad ids are the most actionable; otherwise jsonschema's best match.
        # (a cohort whose source keys fail also reports them as unevaluated: not unknown)
        first = next((e for e in errors if e.validator == "additionalProperties"
                      or (e.validator == "unevaluatedProperties" and _unknown_keys(e, registry))
                      or "propertyNames" in e.absolute_schema_path), None)
        rest = [e for e in errors if e.validator != "unevaluatedProperties"] or errors
        raise _format_error(first or jsonschema.exceptions.best_match(rest), config_file,
                            registry)
    _fill_defaults(cfg, schema, registry)
    check_mirrors(cfg.get("mirrors") or {}, config_file)

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
    ctx = sources.CheckContext(config_file=config_file, base_dir=base, check_files=check_files)
    for cid, cohort in cfg["cohorts"].items():
        sources.get(cohort["source"]).validate(cid, cohort, ctx)
        _check_clinical(cid, cohort["clinical"], config_file)
    _check_endpoints(cfg, config_file)
    _check_demo_mix(cfg, config_file)
    return cfg


def _check_demo_mix(cfg: Mapping[str, Any], config_file: str) -> None:
    """The synthetic demo cohorts never run beside other cohorts unless asked for: their rows
    would be pooled with real data, and a model trained on the demo validated on real patients.
    """
    cohorts = cfg.get("cohorts", {})
    demo = sorted(c for c, v in cohorts.items() if v.get("source") == "demo")
    other = sorted(c for c in cohorts if c not in demo)
    if demo and other and not cfg.get("allow_demo_mix", False):
        raise FerroscopeError(
            f"the synthetic demo cohort(s) {', '.join(demo)} would run beside "
            f"{', '.join(other)}: pooled rows would mix synthetic and real data, and a model or "
            "signature meant for the demo would be validated on your cohorts. (Snakemake merges "
            "--configfile into the workflow's config key by key, so cohorts add up.)",
            file=config_file, field=f"cohorts.{demo[0]}",
            fix="remove the demo cohorts from your config (config/config.yaml ships none; the "
                "demo runs from config/demo.yaml), or set allow_demo_mix: true if you want "
                "them together.")


def _check_clinical(cid: str, clin: dict[str, Any], config_file: str) -> None:
    """Outcome blocks: time and event in pairs, at least one outcome, arms that can be found."""
    for ep in ENDPOINTS:
        if (f"{ep}_time" in clin) != (f"{ep}_event" in clin):
            raise FerroscopeError(f"{ep}_time and {ep}_event must be given together.",
                                  file=config_file, field=f"cohorts.{cid}.clinical",
                                  fix=f"add the missing {ep}_time or {ep}_event mapping.")
    if not any(f"{ep}_time" in clin for ep in ENDPOINTS) and "response" not in clin:
        raise FerroscopeError(
            "the cohort has no outcome: neither a survival endpoint nor a response block, so "
            "nothing could be tested in it.", file=config_file, field=f"cohorts.{cid}.clinical",
            fix="add os_time + os_event (or rfs/dfs/pfi/dss), or a response: block, or remove "
                "the cohort.")
    resp = clin.get("response", {})
    if resp.get("control_arm") and not resp.get("arm"):
        raise FerroscopeError(
            "response.control_arm is set without response.arm (the treated arm).",
            file=config_file, field=f"cohorts.{cid}.clinical.response.arm",
            fix="name the treated arm in response.arm, or remove control_arm.")
    if resp.get("arm") and "arm" not in clin:
        raise FerroscopeError(
            f"response.arm is '{resp['arm']}' but the cohort has no arm mapping, so no sample "
            "can be found in that arm.", file=config_file, field=f"cohorts.{cid}.clinical.arm",
            fix=f"add cohorts.{cid}.clinical.arm: {{column: <column holding the arms>}}, or "
                "remove response.arm and response.control_arm.")
    if resp.get("arm") and str(resp["arm"]).strip().lower() == str(
            resp.get("control_arm", "")).strip().lower():
        raise FerroscopeError("response.arm and response.control_arm are the same arm.",
                              file=config_file, field=f"cohorts.{cid}.clinical.response",
                              fix="name two different arms.")


def _check_endpoints(cfg: dict[str, Any], config_file: str) -> None:
    """Each endpoint of survival.endpoints must be mapped in at least one cohort.

    Cohorts lacking an endpoint are listed in the report; a config whose cohorts have no
    survival mapping at all (response only) runs no survival analysis and this check is moot.
    """
    cohorts = cfg.get("cohorts", {})
    mapped = {ep for c in cohorts.values() for ep in ENDPOINTS
              if f"{ep}_time" in c.get("clinical", {})}
    if not mapped:
        return
    for ep in cfg.get("survival", {}).get("endpoints", []):
        if ep not in mapped:
            raise FerroscopeError(
                f"endpoint '{ep}' is asked for in survival.endpoints but no cohort maps it "
                f"(no cohort has clinical.{ep}_time / {ep}_event; mapped: "
                f"{', '.join(sorted(mapped))}).", file=config_file, field="survival.endpoints",
                fix=f"remove '{ep}' from survival.endpoints or map {ep}_time and {ep}_event in "
                    "a cohort.")

