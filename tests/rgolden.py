"""R outputs frozen as small golden files (tests/golden/<case>.tsv), so the fast lane checks
agreement with R without running it.

The live-R tests (tests/test_reference_gsva.py, tests/test_reference_gsva2.py) write them when
run with ``FERROSCOPE_REGEN_GOLDEN=1``::

    FERROSCOPE_REGEN_GOLDEN=1 PYTHONPATH=$PWD/src .venv/bin/pytest -q \\
        tests/test_reference_gsva.py tests/test_reference_gsva2.py

Each file holds R's scores (samples x sets, 17 significant digits, ``NA`` for missing) under a
header line naming the R function and a digest of the inputs (the seeded matrix and the sets):
the fast tests rebuild the inputs from the same seeds and stop with "inputs changed" rather than
compare against scores of another matrix.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ferroscope.genesets import GeneSet

GOLDEN = Path(__file__).with_name("golden")
#: set to 1 to rewrite the golden files from the live R runs
REGEN = os.environ.get("FERROSCOPE_REGEN_GOLDEN") == "1"


def digest(expr: pd.DataFrame, sets: Sequence[GeneSet] | dict[str, list[str]]) -> str:
    """A short hash of the inputs: matrix values, gene and sample names, set members."""
    h = hashlib.sha256(np.ascontiguousarray(expr.to_numpy(dtype=np.float64)).tobytes())
    h.update("\t".join(map(str, expr.index)).encode())
    h.update("\t".join(map(str, expr.columns)).encode())
    members = sets.items() if isinstance(sets, dict) else \
        [(s.name, [*s.genes, "|", *s.duplicates]) for s in sets]
    for name, genes in members:
        h.update(("\n" + name + "\t" + "\t".join(genes)).encode())
    return h.hexdigest()[:16]


def write(name: str, scores: pd.DataFrame, source: str, key: str) -> None:
    """Freeze R's ``scores`` (samples x sets) for case ``name``; ``key`` is :func:`digest`."""
    GOLDEN.mkdir(exist_ok=True)
    text = scores.to_csv(sep="\t", float_format="%.17g", na_rep="NA")
    (GOLDEN / f"{name}.tsv").write_text(f"# {source}; inputs {key}\n{text}")


def read(name: str, key: str) -> pd.DataFrame:
    """R's frozen scores for case ``name``; stops when the inputs are not those it was made
    from."""
    path = GOLDEN / f"{name}.tsv"
    assert path.is_file(), f"{path} is missing: regenerate it ({__name__} docstring)"
    header = path.read_text().split("\n", 1)[0]
    assert header.endswith(f"inputs {key}"), (
        f"{path.name}: inputs changed since R scored them ({header!r}, now {key}); "
        "regenerate the golden files with FERROSCOPE_REGEN_GOLDEN=1 (see tests/rgolden.py)")
    return pd.read_csv(path, sep="\t", index_col=0, comment="#",
                       float_precision="round_trip").astype(float)
