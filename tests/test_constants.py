"""Parse-time names (ferroscope.constants) agree with the modules that use them at run time,
and config validation stays free of numerical imports (a no-op rerun pays only for snakemake)."""

from __future__ import annotations

import subprocess
import sys

import yaml

from ferroscope import constants

from .conftest import REPO


def test_method_names_are_the_registered_methods():
    from ferroscope.scoring import METHODS

    assert sorted(constants.METHOD_NAMES) == sorted(METHODS)


def test_endpoints_are_the_clinical_endpoints_and_the_schema_enum():
    import pandas as pd

    from ferroscope.clinical import standardise_clinical

    raw = pd.DataFrame({"id": ["a", "b"], "t": [1.0, 2.0], "e": [1, 0]})
    mapping = {"sample_id": "id"}
    for ep in ("pfi", "os", "dss", "rfs", "dfs"):  # config order must not matter
        mapping[f"{ep}_time"] = {"column": "t", "unit": "months"}
        mapping[f"{ep}_event"] = {"column": "e", "event_values": [1], "censor_values": [0]}
    out = standardise_clinical(raw, mapping, source="c.tsv", cohort="x")
    mapped = [c.removesuffix("_time_months") for c in out.columns if c.endswith("_months")]
    assert tuple(mapped) == constants.ENDPOINTS
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    enum = schema["properties"]["survival"]["properties"]["endpoints"]["items"]["enum"]
    assert tuple(enum) == constants.ENDPOINTS


def _schema(name: str) -> dict:
    return yaml.safe_load((REPO / "workflow" / "schemas" / name).read_text())


def test_endpoints_are_the_schema_enum_and_the_cohort_mapping_keys():
    """The endpoints analysed (config survival.endpoints) and the ones a cohort can map
    ({ep}_time / {ep}_event in its clinical block) are constants.ENDPOINTS, in that order."""
    enum = _schema("config.schema.yaml")["properties"]["survival"]["properties"]["endpoints"]
    assert tuple(enum["items"]["enum"]) == constants.ENDPOINTS
    clinical = _schema("cohort.schema.yaml")["properties"]["clinical"]["properties"]
    for suffix in ("_time", "_event"):
        keys = tuple(k[:-len(suffix)] for k in clinical if k.endswith(suffix))
        assert keys == constants.ENDPOINTS, suffix


#: JSON Schema type of each settings field type
_JSON_TYPE = {bool: "boolean", int: "integer", float: "number", str: "string"}


def test_scoring_schema_blocks_are_the_method_settings():
    """The schema's method names are the registered ones; each ``scoring.<method>`` block of
    the config schema says what the method's settings
    class says (keys in order, type or allowed values, default, minimum) and has a description;
    a method without settings has no block, and no block names an unregistered method. The
    config docs (config/README.md) are generated from this schema (tests/test_catalog.py)."""
    from ferroscope.scoring import METHODS
    from ferroscope.scoring._base import MISSING

    scoring = _schema("config.schema.yaml")["properties"]["scoring"]["properties"]
    general = {"methods", "primary", "chunk_size", "missing"}
    assert tuple(scoring["methods"]["items"]["enum"]) == constants.METHOD_NAMES
    assert set(scoring) - general <= set(METHODS), "a scoring block of no registered method"
    assert tuple(scoring["missing"]["enum"]) == MISSING
    for name, method in METHODS.items():
        spec = method.settings.spec()
        if not spec:
            assert name not in scoring, f"{name} takes no settings"
            continue
        block = scoring[name]
        assert block["additionalProperties"] is False and block["description"].strip()
        assert list(block["properties"]) == list(spec), name
        for key, want in spec.items():
            node = block["properties"][key]
            where = f"scoring.{name}.{key}"
            if want["enum"] is not None:
                assert node["enum"] == list(want["enum"]), where
            else:
                assert node["type"] == _JSON_TYPE[want["type"]], where
            assert node["default"] == want["default"], where
            assert type(node["default"]) is not bool or want["type"] is bool, where
            assert node.get("minimum") == want["minimum"], where
            assert str(node.get("description", "")).strip(), where


def test_config_validation_imports_no_numerical_library():
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import yaml\n"
        "import ferroscope.constants\n"
        "from ferroscope.config import validate_config\n"
        f"repo = Path({str(REPO)!r})\n"
        "cfg = yaml.safe_load((repo / 'config' / 'config.yaml').read_text())\n"
        "cfg.update(yaml.safe_load((repo / 'config' / 'demo.yaml').read_text()))\n"
        "validate_config(cfg, schema_dir=repo / 'workflow' / 'schemas', base_dir=repo)\n"
        "heavy = ('numpy', 'pandas', 'scipy', 'anndata', 'numba', 'h5py', 'matplotlib')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
