"""The workflow on a real single-node SLURM through snakemake-executor-plugin-slurm.

The module starts munged, slurmctld and slurmd itself (tests/slurm/start.sh, as root, config at
/etc/slurm/slurm.conf, no accounting so job states come from squeue) and stops exactly the
daemons it started, by PID (tests/slurm/stop.sh). It checks that

* jobs really went through sbatch (the SLURM job ids Snakemake reports are exactly those the
  slurmctld log shows submitted and completed with exit status 0) and tiny jobs were grouped;
* every result table equals the local run of the same config (floats to 1e-12);
* a failing job fails the run with the job's log path in the message, and a rerun after the fix
  resumes without redoing finished jobs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from .conftest import REPO, make_workdir, run_snakemake

pytestmark = pytest.mark.slow

SLURM_DIR = Path(__file__).parent / "slurm"
# Poll squeue every second at first: the plugin's default waits 40 s before the first check.
FAST_POLL = ("--slurm-init-seconds-before-status-checks", "1")


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd/munged needs root; run the suite as root (CI does)"
    missing = [b for b in ("sbatch", "squeue", "slurmctld", "slurmd", "munged")
               if shutil.which(b) is None and not Path("/usr/sbin", b).exists()]
    if missing:
        return (f"SLURM is not installed ({', '.join(missing)} missing); "
                "tests/install-system-deps.sh installs Debian slurm-wlm and munge")
    if subprocess.run(["pgrep", "-x", "slurmctld"], capture_output=True).returncode == 0:
        return "a slurmctld is already running on this machine; the test starts its own cluster"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    state = tmp_path_factory.mktemp("slurm")
    # slurm.conf paths must be reachable by the daemons: tmp dirs are.
    start = subprocess.run(["bash", str(SLURM_DIR / "start.sh"), str(state)],
                           capture_output=True, text=True, timeout=120)
    if start.returncode != 0:
        subprocess.run(["bash", str(SLURM_DIR / "stop.sh"), str(state)], timeout=60)
        pytest.fail(f"SLURM did not start:\n{start.stdout}\n{start.stderr}")
    yield state
    pids = (state / "pids").read_text().split()
    subprocess.run(["bash", str(SLURM_DIR / "stop.sh"), str(state)], timeout=60)
    alive = [p for p in pids if _running(p)]
    assert not alive, f"daemons still running after stop.sh: {alive}"


def _running(pid: str) -> bool:
    """True while the process exists and is not a zombie (containers may not reap daemons)."""
    try:
        stat = Path("/proc", pid, "stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def controller_jobs(state: Path) -> dict[str, set[int]]:
    """Job ids slurmctld logged as submitted by sbatch and as completed with exit status 0."""
    log = (state / "log" / "slurmctld.log").read_text()
    return {
        "submitted": {int(j) for j in re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", log)},
        "succeeded": {int(j) for j in re.findall(r"_job_complete: JobId=(\d+) WEXITSTATUS 0", log)},
    }


def submitted_jobs(output: str) -> list[int]:
    return [int(j) for j in re.findall(r"submitted with SLURM jobid (\d+)", output)]


def run_slurm(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_snakemake(workdir, "--profile", str(REPO / "profiles" / "slurm"), *FAST_POLL,
                         *args)


def assert_tables_equal(local: Path, remote: Path) -> int:
    """Every TSV under results/ of both runs is equal (floats to 1e-12); returns the count."""
    tables = sorted(p.relative_to(local) for p in (local / "results").rglob("*.tsv"))
    assert tables, "the local run wrote no tables"
    for rel in tables:
        a = pd.read_csv(local / rel, sep="\t")
        b = pd.read_csv(remote / rel, sep="\t")
        assert list(a.columns) == list(b.columns) and a.shape == b.shape, rel
        for col in a.columns:
            if pd.api.types.is_numeric_dtype(a[col]) and pd.api.types.is_numeric_dtype(b[col]):
                np.testing.assert_allclose(b[col].to_numpy(float), a[col].to_numpy(float),
                                           rtol=0, atol=1e-12, equal_nan=True,
                                           err_msg=f"{rel}: column {col}")
            else:
                assert a[col].astype(str).tolist() == b[col].astype(str).tolist(), (rel, col)
    return len(tables)


def test_demo_on_slurm_equals_local_run(cluster, demo_run, tmp_path):
    before = controller_jobs(cluster)
    wd = make_workdir(tmp_path)
    res = run_slurm(wd)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]

    submitted = submitted_jobs(out)
    after = controller_jobs(cluster)
    # one 'cohort' group (generate + prepare + coverage) per cohort, score per cohort x method,
    # one group of all survival/response jobs, one of all figures; statistics and report are
    # local rules.
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    n_cohorts, n_methods = len(cfg["cohorts"]), len(cfg["scoring"]["methods"])
    assert len(submitted) == n_cohorts + n_cohorts * n_methods + 2, out[-3000:]
    for what in ("submitted", "succeeded"):
        new = after[what] - before[what]
        assert set(submitted) == new, f"slurmctld {what} {sorted(new)}, snakemake {submitted}"
    assert all(f"group_{g}" in out for g in ("cohort", "outcome", "figures"))
    assert "rule_score/demo_ssgsea" in out  # fan-out per cohort x method

    n = assert_tables_equal(demo_run, wd)
    assert n >= 15
    assert (wd / "results" / "report.html").stat().st_size > 1_000_000

    again = run_slurm(wd)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def _two_cohort_config(tmp: Path, *, bad_time: bool, only: str | None = None) -> str:
    """Two small local cohorts; in 'broken' one patient has a negative OS time when bad_time.

    ``only`` rewrites the files of that cohort alone (the other keeps its modification time).
    """
    from ferroscope import demo
    from ferroscope.genesets import AliasTable, read_gmt

    gs = REPO / "resources" / "genesets"
    sets = read_gmt(gs / "ferroptosis.gmt", AliasTable.read(gs / "aliases.tsv"))
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    base = dict(cfg["cohorts"]["demo"])
    base.pop("demo")
    cohorts = {}
    for name, seed in (("healthy", 1), ("broken", 2)):
        cohort = demo.generate(sets, n_patients=60, n_genes=800, seed=seed)
        if name == "broken" and bad_time:
            cohort.clinical.loc[cohort.clinical.index[3], "os_days"] = -30
        if only in (None, name):
            demo.write(cohort, tmp / "data" / f"{name}.tsv.gz",
                       tmp / "data" / f"{name}_clin.tsv")
        cohorts[name] = dict(base, source="local", expression=f"data/{name}.tsv.gz",
                             clinical_table=f"data/{name}_clin.tsv")
    cfg["cohorts"] = cohorts
    return yaml.safe_dump(cfg)


def test_failing_job_names_its_log_and_rerun_resumes(cluster, tmp_path):
    wd = make_workdir(tmp_path, _two_cohort_config(tmp_path, bad_time=True))
    # the scoring stage is enough to show the failure and the resume
    targets = [f"results/{c}/scores/mean_z.tsv" for c in ("healthy", "broken")]
    first = run_slurm(wd, *targets)
    out = first.stdout + first.stderr
    assert first.returncode != 0
    assert "logs/prepare/broken.log" in out, out[-3000:]
    assert re.search(r"\.snakemake/slurm_logs/group_cohort\w*/\d+\.log", out), out[-3000:]
    assert "negative survival time" in (wd / "logs" / "prepare" / "broken.log").read_text()
    assert not (wd / "results" / "broken" / "prepared.h5ad").exists()  # nothing half-written

    healthy = wd / "results" / "healthy" / "prepared.h5ad"
    assert healthy.exists(), "the healthy cohort's prepare should finish before the run stops"
    stamp = healthy.stat().st_mtime_ns

    # the fix: rewrite the broken cohort's tables only
    _two_cohort_config(tmp_path, bad_time=False, only="broken")
    second = run_slurm(wd, *targets)
    out2 = second.stdout + second.stderr
    assert second.returncode == 0, out2[-4000:]
    assert healthy.stat().st_mtime_ns == stamp
    assert re.findall(r"wildcards: cohort=(\w+)$", out2, flags=re.M).count("healthy") == 0
    assert "cohort=broken" in out2
    for t in targets:
        assert (wd / t).exists()
