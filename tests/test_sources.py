"""The cohort source registry (ferroscope.sources): it matches the config schema, a source
registered from outside assembles through the one interface, and the assembled files are what
the prepare step reads."""

from __future__ import annotations

import gzip
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ferroscope import demo, sources
from ferroscope.config import _load_schemas, validate_config
from ferroscope.errors import FerroscopeError
from ferroscope.genesets import AliasTable, read_gmt
from ferroscope.io import read_table
from ferroscope.prepare import read_expression
from ferroscope.sources import Assembled, Source

from .conftest import REPO

SCHEMAS = REPO / "workflow" / "schemas"
LOG = logging.getLogger("test_sources")


# A toy source, declared as a source module would: its expression is a planted 3 x 4 matrix
# read from its one download, its clinical table is built from the same file's header.
def _toy_downloads(cohort, mirrors):
    name = f"{cohort['accession']}.tsv"
    return {"matrix": (name, f"{mirrors['toy']}/{name}")}


def _toy_assemble(inputs, cohort, log):
    matrix = pd.read_csv(inputs["matrix"], sep="\t", index_col=0)
    matrix.index.name = "gene"
    clinical = pd.DataFrame({"sample": matrix.columns, "arm": cohort["arm_of_all"]})
    return Assembled(matrix, clinical, records=[{"mapping": "toy", "column": "(all)",
                                                 "kept": matrix.shape[1], "dropped": 0}])


TOY = Source(name="toy", summary="a test source", downloads=_toy_downloads,
             assemble=_toy_assemble)
PLANTED = pd.DataFrame([[1.5, 2.25, 3.0, 4.125], [0.0, -1.0, 7.5, 2.0],
                        [10.0, 11.0, 12.0, 13.0]], index=["TP53", "GPX4", "SLC7A11"],
                       columns=["s1", "s2", "s3", "s4"])


@pytest.fixture()
def toy(monkeypatch):
    monkeypatch.setitem(sources.REGISTRY, "toy", TOY)
    return TOY


def test_registry_lists_exactly_the_sources_the_schema_allows():
    """Every registered source has a schema fragment and every fragment a source; the
    composed cohort schema's `source` enum is that list."""
    fragments = sorted(p.name.removesuffix(".schema.yaml")
                       for p in (SCHEMAS / "sources").glob("*.schema.yaml"))
    assert sources.names() == fragments == ["demo", "geo", "local", "tcga"]
    _, registry = _load_schemas(SCHEMAS)
    cohort = registry.contents("cohort.schema.yaml")
    assert cohort["properties"]["source"]["enum"] == sources.names()
    assert [e["then"]["$ref"] for e in cohort["allOf"]] == [
        f"sources/{n}.schema.yaml" for n in sources.names()]


def test_each_source_is_either_assembled_or_read_in_place():
    kinds = {n: ("assembled" if s.assemble else "in place") for n, s in sources.REGISTRY.items()}
    assert kinds == {"demo": "assembled", "geo": "assembled", "local": "in place",
                     "tcga": "assembled"}
    with pytest.raises(ValueError, match="exactly one of assemble and raw_inputs"):
        Source(name="bad", summary="neither")


def test_registry_imports_no_numerical_library():
    """The Snakefile reads the registry while parsing: it must stay cheap to import."""
    import subprocess

    code = ("import sys, ferroscope.sources as s; s.names(); "
            "print(sorted(m for m in ('numpy', 'pandas', 'scipy', 'anndata') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(REPO / "src")})
    assert out.stdout.strip() == "[]"


def test_toy_source_assembles_through_the_interface(toy, tmp_path):
    """A source registered from outside: downloads by role, assembly, the three files the
    cohort_source rule writes, read back as the prepare step reads them."""
    cohort = {"source": "toy", "accession": "T1", "arm_of_all": "sorafenib"}
    dl = toy.downloads(cohort, {"toy": "http://127.0.0.1:9/toy"})
    assert dl == {"matrix": ("T1.tsv", "http://127.0.0.1:9/toy/T1.tsv")}
    matrix = tmp_path / "download" / dl["matrix"][0]
    matrix.parent.mkdir()
    PLANTED.to_csv(matrix, sep="\t")
    out = sources.assemble(cohort, {"matrix": str(matrix)}, LOG)
    paths = [tmp_path / "expression.tsv.gz", tmp_path / "clinical.tsv", tmp_path / "sel.json"]
    out.write(*paths)
    expr = read_expression(paths[0], what="toy expression")
    pd.testing.assert_frame_equal(expr, PLANTED, check_names=False)
    clin = read_table(paths[1], what="toy clinical")
    assert list(clin["sample"]) == ["s1", "s2", "s3", "s4"]
    assert set(clin["arm"]) == {"sorafenib"}
    assert json.loads(paths[2].read_text()) == [
        {"mapping": "toy", "column": "(all)", "kept": 4, "dropped": 0}]


@pytest.mark.bad_input
@pytest.mark.parametrize("bad,needle", [
    (PLANTED.iloc[:0], "empty expression table (0 genes x 4 samples)"),
    (PLANTED.set_axis(["s1", "s2", "s1", "s4"], axis=1), "sample 's1' appears twice"),
])
def test_assembled_tables_are_checked_before_writing(toy, monkeypatch, tmp_path, bad, needle):
    monkeypatch.setitem(sources.REGISTRY, "toy", Source(
        name="toy", summary="broken", assemble=lambda inputs, cohort, log: Assembled(bad, bad)))
    with pytest.raises(FerroscopeError, match="check the cohort's files") as err:
        sources.assemble({"source": "toy"}, {"matrix": str(tmp_path / "m.tsv")}, LOG)
    assert needle in str(err.value) and "m.tsv" in str(err.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.bad_input
def test_source_without_schema_fragment_is_named(toy):
    """A registered source needs a fragment (its config keys), else config validation stops."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    with pytest.raises(FerroscopeError) as err:
        validate_config(cfg, schema_dir=SCHEMAS, base_dir=REPO)
    text = str(err.value)
    assert "workflow/schemas/sources" in text and "'toy'" in text
    assert "Fix: give every module of ferroscope/sources/" in text


def test_demo_source_writes_the_generator_files_byte_for_byte(tmp_path):
    """The demo source's assembly writes what ferroscope.demo.write wrote (same numbers)."""
    gs = REPO / "resources" / "genesets"
    inputs = {"gmt": str(gs / "ferroptosis.gmt"), "aliases": str(gs / "aliases.tsv")}
    cohort = {"source": "demo", "demo": {"n_patients": 25, "n_genes": 600, "seed": 3}}
    sources.assemble(cohort, inputs, LOG).write(tmp_path / "e.tsv.gz", tmp_path / "c.tsv",
                                               tmp_path / "r.json")
    ref = demo.generate(read_gmt(inputs["gmt"], AliasTable.read(inputs["aliases"])),
                        n_patients=25, n_genes=600, seed=3)
    demo.write(ref, tmp_path / "ref_e.tsv.gz", tmp_path / "ref_c.tsv")
    for new, old in (("e.tsv.gz", "ref_e.tsv.gz"), ("c.tsv", "ref_c.tsv")):
        read = gzip.open if new.endswith(".gz") else Path.open
        with read(tmp_path / new, "rb") as a, read(tmp_path / old, "rb") as b:
            assert a.read() == b.read()
    assert json.loads((tmp_path / "r.json").read_text()) == []
    assert np.isfinite(read_expression(tmp_path / "e.tsv.gz", what="demo").to_numpy()).all()


def test_assembly_param_leaves_out_what_only_prepare_reads():
    """Editing a clinical mapping re-runs prepare, not the (possibly long) assembly."""
    cohort = {"source": "geo", "accession": "GSE1", "platform": "GPL1", "description": "d",
              "expression_scale": "auto", "clinical": {"sample_id": "geo_accession"}}
    assert sources.assembly_config(cohort) == {"source": "geo", "accession": "GSE1",
                                               "platform": "GPL1"}


def test_local_source_is_read_in_place():
    local = sources.get("local")
    assert local.raw_inputs({"expression": "data/x.tsv.gz", "clinical_table": "data/c.tsv"}) \
        == {"expression": "data/x.tsv.gz", "clinical": "data/c.tsv"}
    assert local.downloads({}, {}) == {}


@pytest.mark.bad_input
def test_unknown_source_name_lists_the_registered_ones():
    with pytest.raises(FerroscopeError, match=r"unknown cohort source 'arrayexpress'.*"
                                              r"Fix: use one of: demo, geo, local, tcga"):
        sources.get("arrayexpress")
