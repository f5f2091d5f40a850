"""Gene-level benchmark (`genes: all`): every gene of a 20,000 x 400 matrix against outcome.

Synthetic log-scale matrix (``--genes`` x ``--samples``, default 20,000 x 400), exponential OS
with ~60% events, a response label for half the patients. Each measurement runs in its own
Python process (peak memory = ru_maxrss of that process). Rows:

* ``floor``: the numpy batch-Cox floor of issue 17, the engine benchmark's own
  (``benchmarks/statistics.py``: Newton steps on cumulative sums over the time-sorted risk
  set, all genes at once; Breslow, no tie handling, 6 fixed steps, no C-index, no KM, no
  AUC): the least any univariate Cox of every gene can cost.
* ``engine cox``: :func:`ferroscope.batchstats.cox_efron` alone (Efron, converged to 1e-12,
  Harrell's C).
* ``gene_statistics``: what the genes rule computes per cohort (:mod:`ferroscope.genelevel`):
  Cox per SD + KM median split for OS and the response AUC (DeLong, Mann-Whitney), in-function
  (the matrix built before the clock starts).
* ``whole-process``: a fresh ``python`` doing the rule's gene-level part: start, import, read
  the h5ad and clinical table (written beforehand), resolve the universe (``genes: all``),
  compute, write the table. What a user waits for per cohort (leave-one-out excluded: it
  scales with the sets, not the genes).

``x floor`` = seconds / floor seconds of the same run.

    python benchmarks/genes.py                     # 20,000 genes x 400 samples
    python benchmarks/genes.py --genes 5000 --samples 1000
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def make_data(n_genes: int, n_samples: int, seed: int = 1):
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(7.0, 1.0, size=(n_samples, n_genes))
    genes = [f"GENE{i:05d}" for i in range(n_genes)]
    samples = [f"S{i:04d}" for i in range(n_samples)]
    z0 = (x[:, 0] - x[:, 0].mean()) / x[:, 0].std()
    t = rng.exponential(30.0 * np.exp(-0.4 * z0))
    c = rng.uniform(12, 100, n_samples)
    clin = pd.DataFrame({
        "os_time_months": np.minimum(t, c), "os_event": (t <= c).astype(float),
        "response": np.where(rng.random(n_samples) < 0.5, rng.integers(0, 2, n_samples),
                             np.nan)}, index=pd.Index(samples, name="sample_id"))
    return pd.DataFrame(x, index=samples, columns=genes), clin


def floor_cox(time_: np.ndarray, event: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The engine benchmark's numpy batch-Cox floor (``benchmarks/statistics.py:floor_cox``)."""
    spec = importlib.util.spec_from_file_location("bench_statistics",
                                                  ROOT / "benchmarks" / "statistics.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.floor_cox(time_, event, x)


def worker(kind: str, n_genes: int, n_samples: int, out: str) -> None:
    from ferroscope import batchstats, genelevel

    small, sclin = make_data(50, 60)  # imports and numba compilation before the clock
    batchstats.cox_efron(sclin["os_time_months"], sclin["os_event"], small)
    x, clin = make_data(n_genes, n_samples)
    t0 = time.perf_counter()
    if kind == "floor":
        floor_cox(clin["os_time_months"].to_numpy(), clin["os_event"].to_numpy(), x.to_numpy())
    elif kind == "engine cox":
        batchstats.cox_efron(clin["os_time_months"], clin["os_event"], x)
    else:
        uni = _universe(x.columns)
        genelevel.gene_statistics(x, uni, clin, cohort="bench", endpoints=["os"],
                                  min_events=10, response_arm="", min_per_class=5)
    sec = time.perf_counter() - t0
    Path(out).write_text(json.dumps({"sec": sec, "rss_mb": _rss_mb()}))


def _universe(genes):
    import pandas as pd

    from ferroscope import genelevel

    return genelevel.gene_universe([], [], pd.DataFrame({"symbol": [], "set": []}), genes,
                                   mode="all")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step(h5ad: str, clinical: str, out: str) -> None:
    """The genes rule's gene-level part, as a fresh process would run it."""
    from ferroscope import genelevel
    from ferroscope.checks import read_clinical, read_h5ad
    from ferroscope.io import write_tsv

    adata = read_h5ad(h5ad)
    clin = read_clinical(clinical, samples=adata.obs_names)
    expr = adata.to_df().T
    uni = _universe(expr.index)
    table = genelevel.gene_statistics(genelevel.gene_matrix(expr, uni), uni, clin,
                                      cohort="bench", endpoints=["os"], min_events=10,
                                      response_arm="", min_per_class=5)
    write_tsv(table, out)
    Path(out + ".json").write_text(json.dumps({"rss_mb": _rss_mb()}))


def write_inputs(n_genes: int, n_samples: int, tmp: Path) -> tuple[Path, Path]:
    import anndata as ad

    from ferroscope.io import write_tsv

    x, clin = make_data(n_genes, n_samples)
    a = ad.AnnData(x.to_numpy(np.float64))
    a.obs_names, a.var_names = list(x.index), list(x.columns)
    a.uns.update(cohort="bench", prepare="{}", provenance="{}")
    a.write_h5ad(tmp / "bench.h5ad")
    write_tsv(clin.reset_index(), tmp / "clinical.tsv")
    return tmp / "bench.h5ad", tmp / "clinical.tsv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genes", type=int, default=20_000)
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--step", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, g, n, out = args.worker
        worker(kind, int(g), int(n), out)
        return
    if args.step:
        step(*args.step)
        return
    g, n = args.genes, args.samples
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for kind in ("floor", "engine cox", "gene_statistics"):
            out = tmp / "r.json"
            subprocess.run([sys.executable, __file__, "--worker", kind, str(g), str(n),
                            str(out)], check=True)
            rows.append((kind, "in-function", json.loads(out.read_text())))
        h5ad, clin = write_inputs(g, n, tmp)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--step", str(h5ad), str(clin),
                        str(tmp / "genes.tsv")], check=True)
        sec = time.perf_counter() - t0
        rss = json.loads((tmp / "genes.tsv.json").read_text())["rss_mb"]
        rows.append(("gene_statistics", "whole-process", {"sec": sec, "rss_mb": rss}))
    floor = rows[0][2]["sec"]
    print(f"gene level, {g:,} genes x {n} samples (OS Cox + KM, response AUC)")
    print(f"{'what':<18}{'timing':<15}{'seconds':>9}{'x floor':>9}{'peak MB':>9}")
    for kind, timing, r in rows:
        print(f"{kind:<18}{timing:<15}{r['sec']:>9.2f}{r['sec'] / floor:>9.1f}"
              f"{r['rss_mb']:>9.0f}")


if __name__ == "__main__":
    main()
