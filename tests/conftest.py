"""Shared fixtures: repository paths, ../shared access, and one demo workflow run per session."""

from __future__ import annotations

import ast
import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
_RUNNING: dict[str, pytest.Item] = {}
_REACH: dict[object, set[str]] = {}


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test with the reason when it is absent.

    Only tests carrying the ``shared`` marker may call it (see :func:`_needs_shared`): anything
    else fails, so ``make test-fast`` (``-m "not shared"``) never depends on ../shared.
    """
    item = _RUNNING.get("item")
    if item is not None and item.get_closest_marker("shared") is None:
        pytest.fail(f"{item.nodeid} reads ../shared but has no `shared` marker: add "
                    "@pytest.mark.shared (or call shared_path from a fixture of this module).")
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real public data not available: {p} is absent (CI provides ../shared)")
    return p


def merge_config(base: dict, over: dict) -> dict:
    """``over`` merged into a copy of ``base`` as Snakemake merges config files: mappings key
    by key (recursively), every other value (lists too) replaced."""
    import copy

    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_config(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def demo_config() -> dict:
    """The demo run's config: config/config.yaml with config/demo.yaml merged over it (what
    `make demo`, or a run naming no cohort, uses). config/config.yaml alone holds no cohort."""
    import yaml

    return merge_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()),
                        yaml.safe_load((REPO / "config" / "demo.yaml").read_text()))


def make_workdir(tmp: Path, config_text: str | None = None) -> Path:
    """A working directory holding config/ and resources/genesets/ copied from the repo.

    Without ``config_text`` the shipped config/config.yaml (no cohort: the run is the demo)
    and config/demo.yaml are copied."""
    (tmp / "config").mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "resources" / "genesets", tmp / "resources" / "genesets")
    text = config_text if config_text is not None else (REPO / "config" / "config.yaml").read_text()
    (tmp / "config" / "config.yaml").write_text(text)
    if config_text is None:
        shutil.copy(REPO / "config" / "demo.yaml", tmp / "config" / "demo.yaml")
    return tmp


def run_snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default config's demo workflow, run once in a scratch working directory."""
    wd = make_workdir(tmp_path_factory.mktemp("demo"))
    res = run_snakemake(wd)
    assert res.returncode == 0, res.stderr[-4000:]
    return wd


def local_cohort_config(tmp: Path, *, n_patients: int = 60, n_genes: int = 800, seed: int = 1,
                        mutate=None, **entry_overrides) -> str:
    """Config text with one local cohort written from a small demo cohort.

    ``mutate(cohort)`` may edit the generated tables before they are written (plant HTML in a
    title, make every patient a responder, ...).
    """
    import yaml

    from ferroscope import demo
    from ferroscope.genesets import AliasTable, read_gmt

    gs = REPO / "resources" / "genesets"
    cohort = demo.generate(read_gmt(gs / "ferroptosis.gmt", AliasTable.read(gs / "aliases.tsv")),
                           n_patients=n_patients, n_genes=n_genes, seed=seed)
    if mutate is not None:
        mutate(cohort)
    demo.write(cohort, tmp / "data" / "expr.tsv.gz", tmp / "data" / "clin.tsv")
    cfg = demo_config()
    entry = dict(cfg["cohorts"]["demo"], source="local", expression="data/expr.tsv.gz",
                 clinical_table="data/clin.tsv", **entry_overrides)
    entry.pop("demo")
    cfg["cohorts"] = {"local": entry}
    return yaml.safe_dump(cfg)


def _reaching(module: object, target: str = "shared_path") -> set[str]:
    """Names of the module's functions that use ``target``, directly or through each other."""
    try:
        tree = ast.parse(inspect.getsource(module))  # type: ignore[arg-type]
    except (OSError, TypeError):
        return set()
    refs = {node.name: {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    reach = {target}
    while True:
        more = {name for name, used in refs.items() if used & reach} - reach
        if not more:
            return reach - {target}
        reach |= more


def _needs_shared(item: pytest.Item) -> bool:
    """The test, a fixture it uses or a helper of its module reads ../shared via shared_path."""
    module = getattr(item, "module", None)
    if module is None:
        return False
    if module not in _REACH:
        _REACH[module] = _reaching(module)
    reach = _REACH[module]
    name = getattr(item, "originalname", item.name)
    return name in reach or bool(reach & set(getattr(item, "fixturenames", ())))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that reads ../shared carries the ``shared`` marker (added here when the
    module does not declare it), before ``-m "not shared"`` deselects."""
    for item in items:
        if item.get_closest_marker("shared") is None and _needs_shared(item):
            item.add_marker(pytest.mark.shared)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _RUNNING["item"] = item


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    _RUNNING.pop("item", None)
