"""Reference cases of the tumour vs non-tumour tests, shared by the R reference test and the
golden file (tests/golden/tissue_wilcox.json, written from R by
``python -m tests.tissue_cases`` with Rscript installed)."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).parent / "golden" / "tissue_wilcox.json"

R_CODE = r"""
cases <- jsonlite::fromJSON("cases.json", simplifyVector = FALSE)
out <- lapply(cases, function(cs) {
  x <- sapply(cs$x, function(v) if (is.null(v)) NA_real_ else v)
  y <- sapply(cs$y, function(v) if (is.null(v)) NA_real_ else v)
  r <- suppressWarnings(wilcox.test(x, y, paired = cs$paired, conf.int = TRUE))
  list(name = cs$name, estimate = unname(r$estimate), ci_low = r$conf.int[1],
       ci_high = r$conf.int[2], p = r$p.value, statistic = unname(r$statistic))
})
writeLines(jsonlite::toJSON(out, digits = NA, auto_unbox = TRUE), "r.json")
"""


def cases() -> list[dict]:
    """Paired and unpaired cases on both sides of R's exact/normal switch: n < 50 without
    ties (exact), n >= 50, ties, zero differences, a one-sided shift, tiny n."""
    rng = np.random.default_rng(20261203)
    out = []

    def add(name, x, y, paired):
        out.append({"name": name, "paired": paired, "x": [float(v) for v in x],
                    "y": [float(v) for v in y]})

    for n in (6, 11, 19, 49, 50, 120):
        y = rng.normal(0, 1, n)
        add(f"paired_n{n}", (y + rng.normal(0.4, 0.8, n)).round(6), y.round(6), True)
    y = rng.normal(0, 1, 19).round(1)
    add("paired_ties_zeros", (y + rng.normal(0.2, 0.5, 19)).round(1), y, True)
    add("paired_all_up", np.arange(1.0, 9.0) + 0.5, np.zeros(8), True)
    add("paired_n5", [1.2, 0.3, 2.2, -0.4, 1.9], [0.1, 0.6, 0.9, 0.1, 0.4], True)
    for m, n in ((5, 7), (22, 19), (49, 30), (60, 52)):
        add(f"unpaired_{m}_{n}", rng.normal(0.6, 1, m).round(6), rng.normal(0, 1, n).round(6),
            False)
    add("unpaired_ties", rng.normal(0.5, 1, 20).round(1), rng.normal(0, 1, 15).round(1), False)
    return out


def random_features(seed: int = 18) -> list[dict]:
    """Many features of one cohort for the vectorised path: 213 and 19 pairs, NaN pairs,
    rounded values (ties, zero differences), constant shifts, and unpaired groups."""
    rng = np.random.default_rng(seed)
    out = []
    for j in range(60):
        n = (213, 19, 30)[j % 3]
        y = rng.normal(0, 1, n)
        x = y + rng.normal(rng.uniform(-0.5, 0.8), rng.uniform(0.2, 1.5), n)
        if j % 4 == 0:
            x, y = x.round(1), y.round(1)
        if j % 5 == 0:
            x[rng.random(n) < 0.1] = np.nan
        paired = j % 3 != 2
        out.append({"name": f"f{j}", "paired": paired,
                    "x": [None if np.isnan(v) else float(v) for v in x],
                    "y": [float(v) for v in (y if paired else y[: n - 7] + 0.2)]})
    return out


def r_results(workdir: Path, rscript: str = "Rscript",
              which: list[dict] | None = None) -> dict[str, dict]:
    (workdir / "cases.json").write_text(json.dumps(cases() if which is None else which))
    (workdir / "ref.R").write_text(R_CODE)
    res = subprocess.run([rscript, "ref.R"], cwd=workdir, capture_output=True, text=True,
                         timeout=300)
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-2000:])
    return {r["name"]: r for r in json.loads((workdir / "r.json").read_text())}


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        ref = r_results(Path(tmp))
    GOLDEN.write_text(json.dumps({"source": "R 4.2 stats::wilcox.test(conf.int = TRUE)",
                                  "cases": cases(), "results": ref}, indent=1) + "\n")
    print(f"wrote {GOLDEN} ({len(ref)} cases)")
