"""Every third-party module the package imports is pinned, identically, in all three manifests.

A module that is importable in a developer's venv but missing from pyproject.toml only fails on a
fresh install (CI); this test catches it on any machine.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# import name -> distribution name, where they differ
DIST = {
    "sklearn": "scikit-learn",
    "sksurv": "scikit-survival",
    "yaml": "pyyaml",
    "jinja2": "jinja2",
    "referencing": "jsonschema",  # shipped by jsonschema, imported for its registry
}


def _imports(paths: list[Path]) -> set[str]:
    names: set[str] = set()
    for path in paths:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    local = {"ferroscope", "_bootstrap"}
    return {n for n in names if n not in sys.stdlib_module_names and n not in local}


def _pins_pyproject() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = {}
    for req in data["project"]["dependencies"]:
        name, _, version = req.partition("==")
        assert version, f"pyproject.toml: dependency {req!r} is not pinned with =="
        pins[name.strip().lower()] = version.strip()
    return pins


def _pins_conda(path: Path) -> dict[str, str]:
    deps = yaml.safe_load(path.read_text())["dependencies"]
    pins = {}
    for dep in deps:
        if isinstance(dep, str) and "=" in dep:
            name, _, version = dep.partition("=")
            pins[name.replace("-base", "").lower()] = version
    return pins


def test_every_imported_module_is_pinned() -> None:
    sources = [*sorted((ROOT / "src").rglob("*.py")),
               *sorted((ROOT / "workflow/scripts").glob("*.py"))]
    pins = _pins_pyproject()
    missing = sorted(
        f"{mod} (distribution {DIST.get(mod, mod)})"
        for mod in _imports(sources)
        if DIST.get(mod, mod).lower() not in pins
    )
    assert not missing, f"imported but not pinned in pyproject.toml dependencies: {missing}"


def test_conda_files_pin_the_same_versions() -> None:
    pins = _pins_pyproject()
    for path in (ROOT / "environment.yml", ROOT / "workflow/envs/ferroscope.yaml"):
        conda = _pins_conda(path)
        wrong = {
            name: (conda[name], version)
            for name, version in pins.items()
            if name in conda and conda[name] != version
        }
        assert not wrong, f"{path.name}: versions differ from pyproject.toml: {wrong}"
    env = _pins_conda(ROOT / "environment.yml")
    absent = sorted(set(pins) - set(env))
    assert not absent, f"environment.yml lacks pinned dependencies of pyproject.toml: {absent}"
