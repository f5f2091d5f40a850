"""GSVA 2.x as a test reference: compile its C sources and run tests/gsva2_ref.R.

Debian ships GSVA 1.46 only. ``../shared/reference-impl/GSVA-c0c20e4`` holds the sources of GSVA
2.0 (rcastelo/GSVA, the commit Bioconductor 3.20 released). :func:`build` compiles ``src/*.c``
with ``R CMD SHLIB`` into a temporary folder (once per test session) and :func:`run` scores
cases through the package's own R functions, evaluated from the sources at run time by
``tests/gsva2_ref.R``; the project keeps no copy of GSVA's code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ferroscope.genesets import GeneSet

from .conftest import shared_path
from .rref import require_r

HARNESS = Path(__file__).with_name("gsva2_ref.R")
_BUILT: dict[str, Path] = {}


def source_dir() -> Path:
    """The GSVA 2.x sources, or skip the test with the reason."""
    return shared_path("reference-impl", "GSVA-c0c20e4")


def build(workdir: Path) -> Path:
    """Compile the C sources into ``workdir/gsva2ref.so`` (cached for the session)."""
    if "lib" in _BUILT:
        return _BUILT["lib"]
    src = source_dir()
    rscript = require_r("cli", "BiocParallel", "IRanges", "sparseMatrixStats", "GSVA")
    r_bin = shutil.which("R") or str(Path(rscript).with_name("R"))
    cli_inc = subprocess.run([rscript, "-e", 'cat(system.file("include", package="cli"))'],
                             capture_output=True, text=True, check=True).stdout.strip()
    workdir.mkdir(parents=True, exist_ok=True)
    for c in sorted((src / "src").glob("*.c")):
        shutil.copy(c, workdir / c.name)  # R CMD SHLIB writes objects beside the sources
    env = dict(os.environ, PKG_CPPFLAGS=f"-I{cli_inc}")
    res = subprocess.run([r_bin, "CMD", "SHLIB", "-o", "gsva2ref.so",
                          *sorted(p.name for p in workdir.glob("*.c"))],
                         cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        pytest.fail(f"R CMD SHLIB failed on the GSVA 2.x sources:\n{res.stderr[-3000:]}")
    _BUILT["lib"] = workdir / "gsva2ref.so"
    return _BUILT["lib"]


@dataclass
class Case:
    """One reference run: ``fun`` is gsva2, ssgsea2 (GSVA 2.x) or gsva146 (Debian's 1.46);
    ``args`` is R code for the extra arguments; ``integer`` stores the matrix as integers."""

    name: str
    expr: pd.DataFrame
    sets: Sequence[GeneSet]
    fun: str
    args: str = ""
    integer: bool = False
    raw_sets: dict[str, list[str]] = field(default_factory=dict)


def run(cases: Sequence[Case], workdir: Path, lib: Path) -> dict[str, pd.DataFrame]:
    """Score every case in one R process; returns name -> samples x sets scores."""
    rows = []
    for c in cases:
        d = workdir / c.name
        d.mkdir(parents=True, exist_ok=True)
        c.expr.to_csv(d / "expr.tsv", sep="\t", na_rep="NA")
        sets = c.raw_sets or {s.name: list(s.genes) for s in c.sets}
        (d / "sets.txt").write_text(
            "\n".join("\t".join([n, *g]) for n, g in sets.items()) + "\n")
        rows.append("\t".join([c.name, c.fun, c.args, str(int(c.integer))]))
    (workdir / "cases.tsv").write_text("\n".join(["name\tfun\targs\tinteger", *rows]) + "\n")
    script = workdir / "run.R"
    script.write_text(f'source("{HARNESS}")\nrun_cases("cases.tsv")\n')
    env = dict(os.environ, GSVA2_SRC=str(source_dir()), GSVA2_LIB=str(lib))
    res = subprocess.run([require_r(), str(script)], cwd=workdir, env=env,
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, f"R failed:\n{res.stderr[-3000:]}"
    out = {}
    for c in cases:
        es = pd.read_csv(workdir / c.name / "es.tsv", sep="\t", index_col=0).T
        out[c.name] = es.astype(float)
    return out


def max_diff(got: pd.DataFrame, want: pd.DataFrame) -> float:
    """Largest absolute difference; NaN must sit in the same cells on both sides."""
    g = got.loc[want.index, want.columns].to_numpy()
    w = want.to_numpy()
    assert np.array_equal(np.isnan(g), np.isnan(w)), (
        f"NA cells differ: ferroscope {int(np.isnan(g).sum())}, R {int(np.isnan(w).sum())}")
    both = ~np.isnan(w)
    return float(np.abs(g[both] - w[both]).max()) if both.any() else 0.0
