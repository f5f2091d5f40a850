"""SLURM: the preflight, the profile's options, and the workflow on a real single-node SLURM.

Preflight and profile tests (fast, no SLURM needed) put fake ``sbatch/squeue/scontrol/sinfo``
scripts on PATH that hang (bounded: ``sleep 30``), answer DOWN, or are absent. The cluster tests
(marked ``slow``) run the workflow through snakemake-executor-plugin-slurm:

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

import dataclasses
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ferroscope.errors import FerroscopeError
from ferroscope.slurm import TOOLS, preflight

from .conftest import REPO, SNAKEMAKE, demo_config, make_workdir, run_snakemake

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
        # a frozen model's signature.tsv starts with a commented YAML header
        header = "#" if (local / rel).read_text().startswith("#") else None
        a = pd.read_csv(local / rel, sep="\t", comment=header)
        b = pd.read_csv(remote / rel, sep="\t", comment=header)
        assert list(a.columns) == list(b.columns) and a.shape == b.shape, rel
        for col in a.columns:
            if pd.api.types.is_numeric_dtype(a[col]) and pd.api.types.is_numeric_dtype(b[col]):
                np.testing.assert_allclose(b[col].to_numpy(float), a[col].to_numpy(float),
                                           rtol=0, atol=1e-12, equal_nan=True,
                                           err_msg=f"{rel}: column {col}")
            else:
                assert a[col].astype(str).tolist() == b[col].astype(str).tolist(), (rel, col)
    return len(tables)


@pytest.mark.slow
def test_demo_on_slurm_equals_local_run(cluster, demo_run, tmp_path):
    before = controller_jobs(cluster)
    wd = make_workdir(tmp_path)
    res = run_slurm(wd)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]

    submitted = submitted_jobs(out)
    after = controller_jobs(cluster)
    # one 'cohort' group (generate + prepare + coverage) per cohort, score per cohort x method,
    # one group of all screening jobs, one of all survival/response jobs, one of all figures;
    # one 'tissue' group per cohort with a comparison group (genes join the 'screen' group);
    # detail_selection, statistics, tissue_statistics and report are local rules.
    cfg = demo_config()
    n_cohorts, n_methods = len(cfg["cohorts"]), len(cfg["scoring"]["methods"])
    n_tissue = sum(1 for c in cfg["cohorts"].values() if c.get("demo", {}).get("n_nontumour"))
    # the risk signatures add one validation job and one training job per model
    n_risk = (1 if cfg.get("signatures", {}).get("files") or cfg.get("models") else 0) \
        + len(cfg.get("models", {}))
    assert len(submitted) == n_cohorts + n_cohorts * n_methods + 3 + n_tissue + n_risk, \
        out[-3000:]
    for what in ("submitted", "succeeded"):
        new = after[what] - before[what]
        assert set(submitted) == new, f"slurmctld {what} {sorted(new)}, snakemake {submitted}"
    assert all(f"group_{g}" in out for g in ("cohort", "screen", "outcome", "figures", "tissue"))
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
    cfg = demo_config()
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


@pytest.mark.slow
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


# ---------------------------------------------------------------------------------------------
# Preflight (no SLURM needed): fake SLURM tools on PATH, bounded by `sleep 30`.

SLURM_CLIENT = {"sacct", "sacctmgr", "salloc", "sattach", "sbatch", "sbcast", "scancel",
                "scontrol", "sdiag", "sinfo", "sprio", "squeue", "sreport", "srun", "sshare",
                "sstat", "strigger"}
HANG = f"exec {shutil.which('sleep')} 30"  # absolute: tests may pass a PATH without it
UP = 'echo "Slurmctld(primary) at ctl is UP"'
DOWN = 'echo "Slurmctld(primary) at ctl is DOWN"; exit 1'


def fake_tools(folder: Path, *, ping: str = HANG, sinfo: str = HANG, config: str = HANG,
               marker: Path | None = None, tools=TOOLS) -> Path:
    """Shell scripts standing in for the SLURM client; ``config`` is `scontrol show config`."""
    folder.mkdir(parents=True, exist_ok=True)
    touch = f'{shutil.which("touch")} "{marker}"; ' if marker else ""
    body = {
        "scontrol": f'case "$1" in ping) {touch}{ping};; *) {config};; esac',
        "sinfo": sinfo, "sbatch": HANG, "squeue": HANG, "sacct": "exit 1",
    }
    for tool in tools:
        script = folder / tool
        script.write_text(f"#!/bin/sh\n{body.get(tool, HANG)}\n")
        script.chmod(0o755)
    return folder


def without_slurm(folder: Path) -> str:
    """A PATH with every program of /usr/local/bin, /usr/bin and /bin except the SLURM client."""
    folder.mkdir(parents=True, exist_ok=True)
    for d in ("/usr/local/bin", "/usr/bin", "/bin"):
        if not Path(d).is_dir():
            continue
        for p in Path(d).iterdir():
            if p.name not in SLURM_CLIENT and not (folder / p.name).exists():
                (folder / p.name).symlink_to(p)
    return f"{Path(SNAKEMAKE).parent}:{folder}"


@pytest.mark.bad_input
def test_preflight_no_slurm_tools(tmp_path):
    with pytest.raises(FerroscopeError) as err:
        preflight("slurm", timeout=1, path=str(tmp_path))
    msg = str(err.value)
    assert "no SLURM tools found on PATH (sbatch, squeue, scontrol, sinfo)" in msg
    assert "Fix:" in msg and "login node" in msg and "profiles/local" in msg


@pytest.mark.bad_input
def test_preflight_some_tools_missing(tmp_path):
    fake_tools(tmp_path, tools=("sbatch", "squeue"))
    with pytest.raises(FerroscopeError, match=r"missing on PATH: scontrol, sinfo.*Fix: install"):
        preflight("slurm", timeout=1, path=str(tmp_path))


@pytest.mark.bad_input
@pytest.mark.parametrize("hung", ["scontrol ping", "sinfo"])
def test_preflight_hanging_controller_stops_within_the_timeout(tmp_path, hung):
    fake_tools(tmp_path, ping=HANG if hung == "scontrol ping" else UP,
               sinfo=HANG if hung == "sinfo" else "echo main")
    t0 = time.monotonic()
    with pytest.raises(FerroscopeError) as err:
        preflight("slurm", timeout=1, path=str(tmp_path))
    assert time.monotonic() - t0 < 4
    msg = str(err.value)
    assert f"did not answer `{hung}` within 1 s" in msg
    assert "Fix: check that slurmctld runs" in msg and "FERROSCOPE_SLURM_TIMEOUT" in msg
    probes = subprocess.run(["pgrep", "-f", f"{tmp_path}/"], capture_output=True, text=True)
    assert probes.stdout == ""  # the hung probe was killed with its process group


@pytest.mark.bad_input
def test_preflight_controller_down(tmp_path):
    fake_tools(tmp_path, ping=DOWN)
    with pytest.raises(FerroscopeError, match=r"not answering: `scontrol ping` exited with "
                                              r"status 1 and said: .*is DOWN\. Fix:"):
        preflight("slurm", timeout=5, path=str(tmp_path))


@pytest.mark.bad_input
def test_preflight_no_partition(tmp_path):
    fake_tools(tmp_path, ping=UP, sinfo="true")
    with pytest.raises(FerroscopeError, match=r"lists no partition.*Fix: ask the cluster"):
        preflight("slurm", timeout=5, path=str(tmp_path))


def test_preflight_passes_and_skips(tmp_path):
    fake_tools(tmp_path, ping=UP, sinfo="echo main")
    preflight("slurm", timeout=5, path=str(tmp_path))  # a cluster that answers
    for executor in ("local", "dryrun", None):
        preflight(executor, timeout=1, path=str(tmp_path / "nothing"))  # not checked


def _snakemake_slurm(wd: Path, path: str, *extra: str, timeout: str = "2") -> subprocess.Popen:
    env = dict(os.environ, PATH=path, FERROSCOPE_SLURM_TIMEOUT=timeout)
    return subprocess.Popen([SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(wd),
                             "--profile", str(REPO / "profiles" / "slurm"), *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _finish(proc: subprocess.Popen, timeout: float) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"snakemake still running after {timeout} s")
    return out


@pytest.mark.slow
@pytest.mark.bad_input
def test_snakemake_with_hanging_slurm_stops_with_one_message(tmp_path):
    """Every SLURM tool hangs (the plugin's own `scontrol show config` too, 10 s at import)."""
    wd = make_workdir(tmp_path / "wd")
    fake = fake_tools(tmp_path / "bin")
    t0 = time.monotonic()
    proc = _snakemake_slurm(wd, f"{fake}:{os.environ['PATH']}")
    out = _finish(proc, 60)
    took = time.monotonic() - t0
    assert proc.returncode == 1, out[-3000:]
    assert took < 45, took  # was: no end
    assert "SLURM is not usable" in out and "did not answer `scontrol ping` within 2 s" in out
    assert "Fix: check that slurmctld runs" in out and "profiles/local" in out
    assert not (wd / "results").exists() and not (wd / "resources" / "cohorts").exists()


@pytest.mark.bad_input
def test_snakemake_without_slurm_tools_stops_with_one_message(tmp_path):
    wd = make_workdir(tmp_path / "wd")
    proc = _snakemake_slurm(wd, without_slurm(tmp_path / "bin"))
    out = _finish(proc, 60)
    assert proc.returncode == 1, out[-3000:]
    assert "no SLURM tools found on PATH (sbatch, squeue, scontrol, sinfo)" in out
    assert "Fix: run Snakemake on a login node" in out
    assert not (wd / "results").exists()


@pytest.mark.bad_input
def test_sigterm_during_preflight_ends_the_run(tmp_path):
    wd = make_workdir(tmp_path / "wd")
    marker = tmp_path / "ping-started"
    fake = fake_tools(tmp_path / "bin", config="exit 1", marker=marker)
    proc = _snakemake_slurm(wd, f"{fake}:{os.environ['PATH']}", timeout="60")
    for _ in range(600):  # the preflight's `scontrol ping` starts (at most 60 s)
        if marker.exists() or proc.poll() is not None:
            break
        time.sleep(0.1)
    assert marker.exists(), "the preflight never ran `scontrol ping`"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out = _finish(proc, 20)
    assert time.monotonic() - t0 < 5
    assert proc.returncode == 1, out[-3000:]
    assert "interrupted (SIGTERM) during the SLURM preflight; nothing was submitted" in out
    assert "Fix:" in out
    probes = subprocess.run(["pgrep", "-f", f"{fake}/"], capture_output=True, text=True)
    assert probes.stdout == ""
    assert not (wd / "results").exists()


def test_profile_options_are_read_by_the_installed_plugin():
    """Each slurm-* key of profiles/slurm is a field of the plugin's ExecutorSettings that its
    code reads (2.8.0 declares no_account but never reads it), and every other key is a
    snakemake command-line option."""
    import snakemake_executor_plugin_slurm as plugin
    from snakemake.cli import get_argument_parser

    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    settings = {f.name for f in dataclasses.fields(plugin.ExecutorSettings)}
    source = "\n".join(p.read_text() for p in Path(plugin.__file__).parent.glob("*.py"))
    options = set(get_argument_parser()._option_string_actions)
    slurm_keys = [k for k in profile if k.startswith("slurm-")]
    assert slurm_keys
    for key in slurm_keys:
        name = key.removeprefix("slurm-").replace("-", "_")
        assert name in settings, f"{key}: not an option of the installed plugin"
        uses = len(re.findall(rf"\b{name}\b", source))
        assert uses >= 2, f"{key}: declared by the plugin but never read ({uses} mention)"
        assert f"--{key}" in options
    for key in profile:
        assert f"--{key}" in options, f"{key}: not a snakemake option"
    # the check itself can fail: the option the profile used to set
    assert len(re.findall(r"\bno_account\b", source)) == 1
