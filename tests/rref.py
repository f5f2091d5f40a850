"""Run R reference implementations from tests (skipping with a reason when R is absent)."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import pytest


def require_r(*packages: str) -> str:
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("Rscript not installed (tests/install-system-deps.sh installs r-base-core "
                    "and the reference packages when run as root)")
    for pkg in packages:
        if not _has_package(rscript, pkg):
            pytest.skip(f"R package {pkg} not installed")
    return rscript


@functools.cache
def _has_package(rscript: str, pkg: str) -> bool:
    """Checked once per session (loading GSVA alone takes ~10 s of CPU)."""
    res = subprocess.run([rscript, "-e", f"suppressMessages(library({pkg}))"],
                         capture_output=True, text=True)
    return res.returncode == 0


def run_r(code: str, workdir: Path, *packages: str) -> None:
    """Run an R script in ``workdir``; fail the test with R's stderr when it errors."""
    rscript = require_r(*packages)
    script = workdir / "ref.R"
    script.write_text(code)
    res = subprocess.run([rscript, str(script)], cwd=workdir, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, f"R failed:\n{res.stderr[-3000:]}"
