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
