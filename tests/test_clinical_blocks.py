"""Any combination of optional clinical blocks runs by config alone: OS only, OS + RFS,
response only, both, and a mix of these cohorts in one run; a cohort with neither is one
config error before any job.

Each run uses a small local cohort (60 patients, 800 genes, mean_z only) written from the
demo generator; the same files serve several cohorts with different mappings.
"""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import yaml

from .conftest import local_cohort_config, make_workdir, run_snakemake

OS = {"os_time": {"column": "os_days", "unit": "days"},
      "os_event": {"column": "vital_status", "event_values": ["Dead"],
                   "censor_values": ["Alive"]}}
RFS = {"rfs_time": {"column": "rfs_days", "unit": "days"},
       "rfs_event": {"column": "rfs_status", "event_values": [1], "censor_values": [0]}}
RESPONSE = {"response": {"column": "best_response", "responder_values": ["CR", "PR"],
                         "non_responder_values": ["SD", "PD"], "arm": "sorafenib",
                         "control_arm": "placebo"},
            "arm": {"column": "treatment"}}


def add_rfs(cohort):
    clin = cohort.clinical
    clin["rfs_days"] = (clin["os_days"] * 0.6).round().clip(lower=1)
    clin["rfs_status"] = (clin["vital_status"] == "Dead").astype(int)
    clin.loc[clin.index[::4], "rfs_status"] = 1


def config(tmp_path, cohorts: dict[str, dict], endpoints: list[str]) -> str:
    cfg = yaml.safe_load(local_cohort_config(tmp_path, mutate=add_rfs))
    base = cfg["cohorts"]["local"]
    cfg["cohorts"] = {}
    for cid, clin in cohorts.items():
        entry = copy.deepcopy(base)
        entry["clinical"] = {"sample_id": "patient", "sample_title": "title", **clin}
        cfg["cohorts"][cid] = entry
    cfg["scoring"]["methods"] = ["mean_z"]
    cfg["survival"]["endpoints"] = endpoints
    cfg["survival"]["n_boot"] = 0
    return yaml.safe_dump(cfg)


def run(tmp_path, cohorts, endpoints):
    wd = make_workdir(tmp_path, config(tmp_path, cohorts, endpoints))
    res = run_snakemake(wd)
    assert res.returncode == 0, res.stderr[-4000:]
    stats = pd.read_csv(wd / "results" / "statistics.tsv", sep="\t")
    stats = stats[~stats["analysis"].str.startswith("gene_")]  # set rows (genes: docs/genes.md)
    return wd, stats, (wd / "results" / "report.html").read_text()


@pytest.mark.slow
def test_os_only_cohort(tmp_path):
    """The bug of issue 10: an OS-only config asked for response jobs (KeyError 'response')."""
    wd, stats, html = run(tmp_path, {"os_only": OS}, ["os"])
    assert set(stats["endpoint"]) == {"os"} and (stats["status"] == "ok").all()
    assert not (wd / "results" / "os_only" / "response").exists()
    assert "no response data" in html
    assert "os_event (vital_status): 60 kept, 0 dropped" in html


@pytest.mark.slow
def test_response_only_cohort(tmp_path):
    wd, stats, html = run(tmp_path, {"resp_only": RESPONSE}, ["os"])
    assert set(stats["endpoint"]) == {"response"}
    assert not (wd / "results" / "resp_only" / "survival").exists()
    assert not list((wd / "results" / "figures").glob("forest_cox_hr_per_sd_*"))
    assert (wd / "results" / "figures" / "roc_resp_only.svg").exists()
    assert "resp_only has no overall-survival data" in html
    assert "response (best_response): 60 kept" in html and "arm (treatment): 60 kept" in html


@pytest.mark.slow
def test_os_rfs_both_and_response_only_cohorts_in_one_run(tmp_path):
    cohorts = {"os_rfs": {**OS, **RFS}, "both": {**OS, **RESPONSE},
               "resp_only": RESPONSE}
    wd, stats, html = run(tmp_path, cohorts, ["os", "rfs"])
    tested = stats[stats["cohort"] != "pooled"].groupby("cohort")["endpoint"].agg(set)
    assert tested.to_dict() == {"os_rfs": {"os", "rfs"}, "both": {"os", "response"},
                                "resp_only": {"response"}}
    # the endpoint a cohort lacks is said in the report, not only in a log
    assert "both does not map rfs (asked for in survival.endpoints)" in html
    assert "resp_only does not map os, rfs" in html
    assert "rfs_event (rfs_status): 60 kept" in html


@pytest.mark.slow
@pytest.mark.bad_input
def test_cohort_with_neither_block_fails_before_any_job(tmp_path):
    wd = make_workdir(tmp_path, config(tmp_path, {"bare": {}}, ["os"]))
    res = run_snakemake(wd, "-n")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "the cohort has no outcome" in out and "cohorts.bare.clinical" in out
    assert "Fix:" in out and "Job stats" not in out and not (wd / "results").exists()
