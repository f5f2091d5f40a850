"""Config validation: bad config fails before any job, naming the key or file."""

from __future__ import annotations

import copy
import re
import shutil

import pytest
import yaml

from ferroscope.config import validate_config
from ferroscope.errors import FerroscopeError

from .conftest import REPO, demo_config, make_workdir, run_snakemake

SCHEMAS = REPO / "workflow" / "schemas"


@pytest.fixture()
def cfg():
    return demo_config()


def check(cfg):
    return validate_config(cfg, schema_dir=SCHEMAS, base_dir=REPO)


def test_default_config_is_valid_and_gets_defaults(cfg):
    out = check(cfg)
    assert out["cohorts"]["demo"]["expression_scale"] == "auto"
    assert out["genesets"]["min_genes"] == 5
    assert out["scoring"]["primary"] == "mean_z"


@pytest.mark.bad_input
def test_unknown_key_is_named(cfg):
    cfg["scoring"]["mehtods"] = ["ssgsea"]
    with pytest.raises(FerroscopeError, match=r"scoring\.mehtods'.*unknown key 'mehtods'"):
        check(cfg)


@pytest.mark.bad_input
def test_unknown_top_level_key_is_named(cfg):
    cfg["survivl"] = {}
    with pytest.raises(FerroscopeError, match="unknown key 'survivl'"):
        check(cfg)


@pytest.mark.bad_input
def test_cohort_id_with_slash_is_refused(cfg):
    cfg["cohorts"]["GSE14520/GPL571"] = copy.deepcopy(cfg["cohorts"]["demo"])
    with pytest.raises(FerroscopeError, match="cohort id 'GSE14520/GPL571' is not allowed"):
        check(cfg)


@pytest.mark.bad_input
def test_missing_geneset_file_is_named(cfg):
    cfg["genesets"]["gmt"] = "resources/genesets/missing.gmt"
    with pytest.raises(FerroscopeError, match=r"genesets\.gmt.*missing\.gmt"):
        check(cfg)


@pytest.mark.bad_input
def test_unknown_method_is_named(cfg):
    cfg["scoring"]["methods"] = ["ssgsea", "magic"]
    with pytest.raises(FerroscopeError, match=r"scoring\.methods.*magic"):
        check(cfg)


@pytest.mark.bad_input
def test_local_cohort_needs_existing_files(cfg):
    cfg["cohorts"]["mine"] = {"source": "local", "expression": "nope.tsv",
                              "clinical_table": "nope.tsv", "clinical": {"sample_id": "s"}}
    with pytest.raises(FerroscopeError, match=r"cohorts\.mine\.expression"):
        check(cfg)


@pytest.mark.bad_input
def test_bad_enum_is_named(cfg):
    cfg["cohorts"]["demo"]["clinical"]["os_time"]["unit"] = "fortnights"
    with pytest.raises(FerroscopeError, match=r"cohorts\.demo\.clinical\.os_time\.unit"):
        check(cfg)


@pytest.mark.bad_input
@pytest.mark.parametrize("edit,needle", [
    (lambda c: c["report"].update(colour="red"), "unknown key 'colour'"),
    (lambda c: c["cohorts"].update({"a/b": c["cohorts"]["demo"]}), "cohort id 'a/b'"),
    (lambda c: c["genesets"].update(gmt="resources/genesets/none.gmt"), "none.gmt"),
])
def test_snakemake_fails_before_any_job(tmp_path, cfg, edit, needle):
    edit(cfg)
    wd = make_workdir(tmp_path, yaml.safe_dump(cfg))
    res = run_snakemake(wd, "-n")
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert needle in out
    assert "Job stats" not in out and not (wd / "results").exists()


@pytest.mark.bad_input
def test_resource_override_for_unknown_rule_is_named(cfg):
    cfg["resources"] = {"scroe": {"mem_mb": 1000}}
    with pytest.raises(FerroscopeError, match=r"resources"):
        check(cfg)


def test_slurm_profile_dry_run_fans_out_per_cohort_and_method(cfg, tmp_path):
    """`--profile profiles/slurm -n` lists one score job per cohort x method, with the resources
    the rules estimate unless config overrides them (no cluster needed for a dry run)."""
    cfg["resources"] = {"score": {"mem_mb": 12345, "runtime": 77}}
    wd = make_workdir(tmp_path, yaml.safe_dump(cfg))
    res = run_snakemake(wd, "--profile", str(REPO / "profiles" / "slurm"), "-n")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    jobs = set()
    for block in out.split("\nrule score:")[1:]:
        wc = block.split("wildcards: ", 1)[1].splitlines()[0]
        jobs.add(wc)
        assert "mem_mb=12345" in block.split("\n\n")[0] and "runtime=77" in block
    expected = {f"cohort={c}, method={m}" for c in cfg["cohorts"]
                for m in cfg["scoring"]["methods"]}
    assert jobs == expected
    prepare = re.split(r"\n\s*rule prepare:", out)[1].split("\n\n")[0]
    assert "mem_mb=1500" in prepare  # the estimate (input not yet generated: size 0)


def test_public_cohorts_dry_run_lists_downloads_from_the_public_hosts(tmp_path):
    """config/public_cohorts.yaml validates and every cohort's downloads point at the right
    public paths (dry run: no network)."""
    wd = make_workdir(tmp_path)
    shutil.copy(REPO / "config" / "public_cohorts.yaml", wd / "config" / "public_cohorts.yaml")
    res = run_snakemake(wd, "-n", "--config", "cohorts_file=config/public_cohorts.yaml")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    fetched = set(re.findall(r"output: (resources/cohorts/\S+/download/\S+)", out))
    expected = {
        "TCGA-LIHC/download/TCGA-LIHC.star_tpm.tsv.gz",
        "TCGA-LIHC/download/TCGA-CDR-SupplementalTableS1.xlsx",
        "GSE14520_GPL3921/download/GSE14520-GPL3921_series_matrix.txt.gz",
        "GSE14520_GPL3921/download/GSE14520_Extra_Supplement.txt.gz",
        "GSE14520_GPL571/download/GPL571.annot.gz",
        "GSE76427/download/GSE76427_series_matrix.txt.gz",
        "GSE109211/download/GSE109211_series_matrix.txt.gz",
        "GSE104580/download/GPL570.annot.gz",
        "GSE140901/download/GSE140901_series_matrix.txt.gz",
        "GSE140901/download/GSE140901_processed_data.txt.gz",
        "GSE109211/download/GPL13938_family.soft.gz",
    }
    assert {f"resources/cohorts/{e}" for e in expected} <= fetched
    # GSE140901's rows are symbols: no platform table (GPL19965.annot.gz does not exist)
    assert not [f for f in fetched if "GPL19965" in f or "GPL13938.annot" in f]
    assert not re.search(r"cohort=demo\b", out)  # the cohort set replaced the demo cohorts


@pytest.mark.bad_input
def test_missing_cohorts_file_is_named(cfg):
    cfg["cohorts_file"] = "config/nope.yaml"
    with pytest.raises(FerroscopeError, match=r"cohorts_file.*'config/nope.yaml' does not exist"):
        check(cfg)


@pytest.mark.bad_input
@pytest.mark.parametrize("cid,needle", [
    (2019, "read by YAML as a int"), (True, "read by YAML as a bool"),
    ("report.html", "name of a workflow output"), ("figures", "name of a workflow output"),
    ("Statistics.tsv", "name of a workflow output"),
])
def test_cohort_id_that_is_a_number_or_an_output_name_is_refused(cfg, cid, needle):
    cfg["cohorts"] = {cid: cfg["cohorts"]["demo"]}
    with pytest.raises(FerroscopeError, match=needle) as err:
        validate_config(cfg, schema_dir=SCHEMAS, base_dir=REPO)
    assert f"cohorts.{cid}" in str(err.value) and "Fix:" in str(err.value)


def geo_cohort(cfg, **changes):
    entry = {"source": "geo", "accession": "GSE14520", "platform": "GPL571",
             "probe_table": {"file": "GPL571.annot.gz", "probe_column": "ID",
                             "symbol_column": "Gene symbol"},
             "clinical": copy.deepcopy(cfg["cohorts"]["demo"]["clinical"])}
    entry.update(changes)
    cfg["cohorts"] = {"geo1": {k: v for k, v in entry.items() if v is not None}}
    return cfg


def test_geo_cohort_gets_its_source_defaults(cfg):
    out = check(geo_cohort(cfg))["cohorts"]["geo1"]
    assert out["multi_platform"] is False and out["expression_scale"] == "auto"
    assert "demo" not in out


@pytest.mark.bad_input
@pytest.mark.parametrize("changes,field,needle,fix", [
    ({"accession": None}, "cohorts.geo1.accession", "a geo cohort needs this key",
     "workflow/schemas/sources/geo.schema.yaml"),
    ({"probe_table": None}, "cohorts.geo1.probe_table",
     "a GEO cohort needs this key (its expression rows are probes)", "public_cohorts.yaml"),
    ({"acession": "GSE1"}, "cohorts.geo1.acession", "unknown key 'acession' for a geo cohort",
     "use one of: accession, clinical, clinical_supplement"),
    ({"accession": None, "acession": "GSE1"}, "cohorts.geo1.acession",
     "unknown key 'acession' for a geo cohort", "accession"),
    ({"demo": {"seed": 1}}, "cohorts.geo1.demo", "unknown key 'demo' for a geo cohort",
     "remove it"),
    ({"source": "arrayexpress"}, "cohorts.geo1.source", "'arrayexpress' is not one of "
     "['demo', 'geo', 'local', 'tcga']", "use one of the listed values"),
])
def test_source_keys_are_named(cfg, changes, field, needle, fix):
    """Each source's keys come from its schema fragment; a missing or unknown one is named
    with the cohort's source (an unknown source lists the registered ones)."""
    with pytest.raises(FerroscopeError) as err:
        check(geo_cohort(cfg, **changes))
    text = str(err.value)
    assert f"field '{field}'" in text and needle in text, text
    assert "Fix:" in text and fix in text.split("Fix:", 1)[1], text


@pytest.mark.bad_input
def test_key_of_another_source_is_unknown(cfg):
    cfg["cohorts"]["demo"]["expression"] = "data/x.tsv"  # a local key on a demo cohort
    with pytest.raises(FerroscopeError, match=r"cohorts\.demo\.expression'.*unknown key "
                                              r"'expression' for a demo cohort"):
        check(cfg)


@pytest.mark.bad_input
def test_tcga_cohort_needs_its_project(cfg):
    cfg["cohorts"]["t"] = {"source": "tcga", "cancer_type": "LIHC",
                           "expression_file": "TCGA-LIHC.star_tpm.tsv.gz",
                           "clinical": cfg["cohorts"]["demo"]["clinical"]}
    with pytest.raises(FerroscopeError, match=r"cohorts\.t\.project'.*a tcga cohort needs this "
                                              r"key.*sources/tcga\.schema\.yaml"):
        check(cfg)


def _user_config(tmp_path):
    """A user's --configfile naming only their own local cohort (a small synthetic one)."""
    from .conftest import local_cohort_config

    entry = yaml.safe_load(local_cohort_config(tmp_path))["cohorts"]["local"]
    return yaml.safe_dump({"cohorts": {"mine": entry}})


def test_user_configfile_runs_only_the_users_cohorts(tmp_path):
    """`snakemake --configfile my.yaml` merges into config/config.yaml, which ships no cohort,
    model or demo signature: the jobs are the user's cohort's only (issue 21)."""
    wd = make_workdir(tmp_path)
    (wd / "my.yaml").write_text(_user_config(wd))
    res = run_snakemake(wd, "-n", "--configfile", str(wd / "my.yaml"))
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    cohorts = set(re.findall(r"cohort=([A-Za-z0-9_.-]+)", out))
    assert cohorts == {"mine"}
    assert "demo_null" not in out and "DEMO_LASSO" not in out and "risk_model" not in out
    assert "running the synthetic demo" not in out
    # the shipped config itself names no cohort; the demo's pieces live in config/demo.yaml
    shipped = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert "cohorts" not in shipped and "models" not in shipped
    assert not any("demo" in f for f in shipped["signatures"]["files"])


@pytest.mark.bad_input
def test_demo_beside_a_users_cohort_stops_through_the_workflow(tmp_path):
    """A user who adds their cohort to the demo's config (or passes both files) would pool
    synthetic with real data and validate the demo's model on real patients: the run stops
    before any job, naming the demo cohorts, and writes nothing."""
    wd = make_workdir(tmp_path)
    (wd / "my.yaml").write_text(_user_config(wd))
    res = run_snakemake(wd, "-n", "--configfile", str(wd / "config" / "demo.yaml"),
                        str(wd / "my.yaml"))
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "synthetic demo cohort(s) demo, demo_validation would run beside mine" in out
    assert "Fix: remove the demo cohorts from your config" in out and "allow_demo_mix" in out
    assert "Job stats" not in out and not (wd / "results").exists()


def test_demo_mix_runs_when_asked_for(cfg):
    cfg["cohorts"]["mine"] = copy.deepcopy(cfg["cohorts"]["demo_validation"])
    cfg["cohorts"]["mine"].update(source="local", expression="config/config.yaml",
                                  clinical_table="config/config.yaml")
    cfg["cohorts"]["mine"].pop("demo")
    with pytest.raises(FerroscopeError, match="allow_demo_mix"):
        check(cfg)
    cfg["allow_demo_mix"] = True
    assert set(check(cfg)["cohorts"]) == {"demo", "demo_validation", "mine"}


@pytest.mark.bad_input
def test_expression_limit_without_a_reason_fails_validation(cfg):
    cfg["cohorts"]["demo"]["expression_limits"] = {"max": 40}
    with pytest.raises(FerroscopeError) as err:
        check(cfg)
    msg = str(err.value)
    assert "cohorts.demo.expression_limits.reason" in msg and "Fix: add the key" in msg
    cfg["cohorts"]["demo"]["expression_limits"] = {"max": 40, "reason": "  "}
    with pytest.raises(FerroscopeError, match=r"expression_limits\.reason"):
        check(cfg)
    cfg["cohorts"]["demo"]["expression_limits"] = {"max": 40, "reason": "spike-ins at 2^35"}
    assert check(cfg)["cohorts"]["demo"]["expression_limits"]["max"] == 40


@pytest.mark.bad_input
def test_unknown_gsva_kcdf_lists_every_accepted_value():
    """A misspelt kcdf given to the API (the config schema's enum catches it in config) is
    refused, naming every accepted value: auto, none, Gaussian and Poisson."""
    import numpy as np
    import pandas as pd

    from ferroscope.genesets import GeneSet
    from ferroscope.scoring import score_sets

    rng = np.random.default_rng(0)
    expr = pd.DataFrame(rng.normal(size=(20, 10)), index=[f"G{i}" for i in range(20)])
    sets = [GeneSet("S", tuple(f"G{i}" for i in range(5)))]
    with pytest.raises((ValueError, FerroscopeError)) as err:
        score_sets(expr, sets, "gsva", params={"kcdf": "gaussian"})
    msg = str(err.value)
    assert "'gaussian'" in msg
    assert all(v in msg for v in ("auto", "none", "Gaussian", "Poisson")), msg
