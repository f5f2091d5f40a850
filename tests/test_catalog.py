"""Snakemake workflow catalog conventions: config/README.md documents every config key (its
tables are generated from the schemas and must be current); .snakemake-workflow-catalog.yml has
the catalog's form."""

from __future__ import annotations

import yaml

from ferroscope import cli, configdoc

from .conftest import REPO

SCHEMAS = REPO / "workflow" / "schemas"
README = REPO / "config" / "README.md"


def test_config_readme_tables_are_current():
    text = README.read_text()
    assert configdoc.MARKER in text
    generated = text.split(configdoc.MARKER)[1]
    assert generated == configdoc.render(SCHEMAS).split(configdoc.MARKER)[1], \
        "config/README.md is stale: run `python -m ferroscope.cli config-docs`"


def test_every_schema_key_has_a_description_in_the_readme():
    keys = [row for _, rows in configdoc.sections(SCHEMAS) for row in rows]
    assert len(keys) > 90
    assert {"genesets.gmt", "scoring.gsva.kcdf", "mirrors.geo", "clinical.response.arm",
            "resources.<rule>.mem_mb", "event_values"} <= {k[0] for k in keys}
    undocumented = [k[0] for k in keys if not k[3]]
    assert not undocumented, f"schema keys without a description: {undocumented}"
    text = README.read_text()
    missing = [k[0] for k in keys if f"| `{k[0]}`" not in text]
    assert not missing


def test_config_docs_command_rewrites_only_the_generated_part(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# intro kept\n\n" + configdoc.MARKER + "\nold table\n")
    assert cli.main(["config-docs", "--readme", str(readme), "--schemas", str(SCHEMAS)]) == 0
    text = readme.read_text()
    assert text.startswith("# intro kept\n\n" + configdoc.MARKER)
    assert "old table" not in text and "| `scoring.methods` **(required)** |" in text
    assert "updated" in capsys.readouterr().out
    assert configdoc.update(readme, SCHEMAS) is False  # idempotent


def test_workflow_catalog_file():
    cat = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    usage = cat["usage"]
    assert set(usage) <= {"mandatory-flags", "software-stack-deployment", "report"}
    assert set(usage["mandatory-flags"]) == {"desc", "flags"}
    stack = usage["software-stack-deployment"]
    assert set(stack) <= {"conda", "apptainer", "apptainer+conda"} and any(stack.values())
    assert (REPO / "workflow" / "envs" / "ferroscope.yaml").is_file() or not stack["conda"]
    assert isinstance(usage["report"], bool)
    assert README.is_file() and (REPO / "Snakefile").is_file()
