"""ferroscope used as a Snakemake ``module`` from another folder (Snakemake catalog usage).

The importing folder holds only its Snakefile, ``config/config.yaml`` and its data: the schemas,
scripts and shipped gene sets must be found in the ferroscope checkout, not the working folder.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from .conftest import REPO, SNAKEMAKE, demo_config, local_cohort_config

MODULE_SNAKEFILE = """\
configfile: "config/config.yaml"


module ferroscope:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from ferroscope{alias}
"""


def importing_workflow(tmp: Path, alias: str = " as ferroscope_*", **config_overrides) -> Path:
    """A folder using ferroscope as a module on a small local cohort (no gene-set copies).

    ``alias`` prefixes the imported rule names (the rules must not depend on their names).
    """
    cfg = yaml.safe_load(local_cohort_config(tmp))
    cfg.update(config_overrides)
    (tmp / "config").mkdir()
    (tmp / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    (tmp / "Snakefile").write_text(MODULE_SNAKEFILE.format(snakefile=REPO / "Snakefile",
                                                           alias=alias))
    assert not (tmp / "resources").exists()
    return tmp


def snakemake_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SNAKEMAKE, "--cores", "2", *args], cwd=folder, capture_output=True,
                          text=True, timeout=900)


@pytest.mark.parametrize("alias,prefix", [(" as ferroscope_*", "ferroscope_"), ("", "")])
def test_module_dry_run_from_another_folder(tmp_path, alias, prefix):
    wd = importing_workflow(tmp_path, alias)
    res = snakemake_in(wd, "-n")
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout + res.stderr
    for rule in ("prepare", "score", "report", "all"):
        assert f"rule {prefix}{rule}:" in out
    assert not (wd / "results").exists()


@pytest.mark.slow
def test_module_full_run_from_another_folder(tmp_path):
    scoring = {"methods": ["mean_z"], "primary": "mean_z"}
    wd = importing_workflow(tmp_path, scoring=scoring)
    res = snakemake_in(wd)
    assert res.returncode == 0, res.stderr[-4000:]
    stats = pd.read_csv(wd / "results" / "statistics.tsv", sep="\t")
    # the shipped config's published signatures are scored too (method "signature")
    # ... and the gene-level rows (method "expression", docs/genes.md)
    assert set(stats.cohort) == {"local"}
    assert set(stats.method) - {"signature", "expression"} == {"mean_z"}
    html = (wd / "results" / "report.html").read_text()
    assert "NRF2_TARGETS" in html
    assert (wd / "results" / "figures" / "km_local.svg").is_file()
    again = snakemake_in(wd)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Nothing to be done" in again.stdout + again.stderr


def test_shipped_gene_sets_are_used_only_when_the_working_folder_has_none(tmp_path):
    from ferroscope.config import validate_config
    from ferroscope.errors import FerroscopeError

    cfg = demo_config()
    schemas = REPO / "workflow" / "schemas"
    out = validate_config(cfg, schema_dir=schemas, base_dir=tmp_path, workflow_dir=REPO)
    assert out["genesets"]["gmt"] == str(REPO / "resources" / "genesets" / "ferroptosis.gmt")
    # a copy in the working folder wins (paths stay relative to it)
    (tmp_path / "resources" / "genesets").mkdir(parents=True)
    (tmp_path / "resources" / "genesets" / "ferroptosis.gmt").write_text("S\tx\tA\n")
    out = validate_config(cfg, schema_dir=schemas, base_dir=tmp_path, workflow_dir=REPO)
    assert out["genesets"]["gmt"] == "resources/genesets/ferroptosis.gmt"
    with pytest.raises(FerroscopeError, match="genesets.aliases"):  # no fallback: named error
        validate_config(cfg, schema_dir=schemas, base_dir=tmp_path)
