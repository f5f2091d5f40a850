"""SLURM preflight: before a run submits anything, check within seconds that SLURM answers.

``snakemake --profile profiles/slurm`` hands jobs to snakemake-executor-plugin-slurm, which calls
``sinfo`` / ``sbatch`` without a timeout: with the SLURM tools installed but no controller
answering, or with no SLURM tools at all, the run used to hang with no message (and ignore
SIGTERM while it waited). :func:`preflight` runs at parse time (workflow/rules/preflight.smk)
when the run's executor is ``slurm`` and stops with one :class:`FerroscopeError` naming what is
missing and the fix:

* the SLURM client tools (``sbatch``, ``squeue``, ``scontrol``, ``sinfo``) are on ``PATH``;
* the controller answers ``scontrol ping`` (UP) and ``sinfo`` lists a partition, each within
  ``timeout`` seconds (default 10, environment variable ``FERROSCOPE_SLURM_TIMEOUT``).

Each probe runs in its own process group and is killed with the group when it times out or when
the run is interrupted: Ctrl-C or SIGTERM during the preflight ends the run at once with a
message, and leaves no probe behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import FerroscopeError

TOOLS = ("sbatch", "squeue", "scontrol", "sinfo")
DEFAULT_TIMEOUT = 10.0
TIMEOUT_ENV = "FERROSCOPE_SLURM_TIMEOUT"
LOCAL_FIX = "or run on this machine instead: snakemake --profile profiles/local"


class _Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def run_executor(workflow: Any) -> str | None:
    """Name of the executor this Snakemake run submits jobs with, or None (dry run, unknown).

    Snakemake 9.27 sets ``workflow.executor_plugin`` only in ``Workflow.execute``, after the
    Snakefile is parsed, and keeps no other record of ``--executor`` on the workflow at parse
    time; the command line's parsed arguments are a local of ``snakemake.cli.args_to_api``,
    which is on the call stack while the Snakefile is parsed. A dry run (``-n``) submits
    nothing and returns None; so does an API caller without that frame.
    """
    plugin = getattr(workflow, "executor_plugin", None)
    if plugin is not None:
        return getattr(plugin, "name", None)
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "args_to_api" and \
                frame.f_globals.get("__name__") == "snakemake.cli":
            args = frame.f_locals.get("args")
            if args is None or getattr(args, "dryrun", False):
                return None
            return getattr(args, "executor", None)
        frame = frame.f_back
    return None


@contextmanager
def _signals_raise() -> Iterator[None]:
    """Turn SIGTERM (and SIGINT) into an exception while the probes run (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: Any) -> None:
        raise _Interrupted(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _probe(cmd: list[str], timeout: float, env: dict[str, str]) -> tuple[int | None, str]:
    """Run ``cmd``; returns (exit status or None on timeout, output). Kills its whole group."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out.strip()
    except subprocess.TimeoutExpired:
        return None, ""
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def preflight(executor: str | None, *, timeout: float | None = None,
              path: str | None = None) -> None:
    """Stop with one clear error unless SLURM answers; does nothing for other executors.

    ``path`` replaces ``PATH`` for finding and running the SLURM tools (tests).
    """
    if executor != "slurm":
        return
    if timeout is None:
        timeout = float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT))
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = path
    search = env.get("PATH", "")
    found = {t: shutil.which(t, path=search) for t in TOOLS}
    missing = [t for t, p in found.items() if p is None]
    where = "--executor slurm (profiles/slurm)"
    if len(missing) == len(TOOLS):
        raise FerroscopeError(
            f"{where}: no SLURM tools found on PATH ({', '.join(TOOLS)}): this machine is not "
            "a SLURM submit host.", field="executor",
            fix="run Snakemake on a login node of the cluster, or put the SLURM client on PATH "
                f"(e.g. `module load slurm`), {LOCAL_FIX}.")
    if missing:
        raise FerroscopeError(
            f"{where}: SLURM tools missing on PATH: {', '.join(missing)} (found: "
            f"{', '.join(f'{t}={p}' for t, p in found.items() if p)}).", field="executor",
            fix="install or load the complete SLURM client (e.g. `module load slurm`), "
                f"{LOCAL_FIX}.")
    fix_ctl = ("check that slurmctld runs and this host may reach it (`scontrol ping`, "
               "`sinfo`), that SLURM_CONF or /etc/slurm/slurm.conf names the right controller "
               f"and munge runs; ask the cluster admins, {LOCAL_FIX}. Waiting longer: set "
               f"{TIMEOUT_ENV}=<seconds>.")
    probes = ((["scontrol", "ping"], "scontrol ping"), (["sinfo", "-h", "-o", "%P"], "sinfo"))
    try:
        with _signals_raise():
            for cmd, name in probes:
                cmd = [found[cmd[0]] or cmd[0], *cmd[1:]]
                status, out = _probe(cmd, timeout, env)
                if status is None:
                    raise FerroscopeError(
                        f"{where}: the SLURM controller did not answer `{name}` within "
                        f"{timeout:g} s.", field="executor", fix=fix_ctl)
                said = out.splitlines()[-1][:200] if out else "(no output)"
                if status != 0 or (name == "scontrol ping" and " is UP" not in out):
                    raise FerroscopeError(
                        f"{where}: the SLURM controller is not answering: `{name}` exited "
                        f"with status {status} and said: {said.rstrip('.')}.", field="executor",
                        fix=fix_ctl)
                if name == "sinfo" and not out:
                    raise FerroscopeError(
                        f"{where}: `sinfo` lists no partition, so no job could run.",
                        field="executor",
                        fix="ask the cluster admins for a partition you may use, " + LOCAL_FIX
                            + ".")
    except _Interrupted as sig:
        raise FerroscopeError(
            f"{where}: interrupted ({sig}) during the SLURM preflight; nothing was submitted.",
            field="executor", fix="run the command again when SLURM answers.") from None
    except KeyboardInterrupt:
        raise FerroscopeError(
            f"{where}: interrupted (Ctrl-C) during the SLURM preflight; nothing was submitted.",
            field="executor", fix="run the command again when SLURM answers.") from None
