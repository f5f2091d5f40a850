"""Scoring benchmark: ferroscope against its peers, measured in the same run.

Synthetic log-scale matrix, 20,000 genes x {500, 2,000, 5,000} samples, 20 gene sets of 10-200
genes. Every (method, implementation, size) runs in its own Python process so that its peak
memory (ru_maxrss) is its own; the matrix is built in that process before the clock starts and
is included in both sides' peak. Printed per row: seconds, peak RSS, the ratio peer/ferroscope
for both, and the largest absolute difference between the two score matrices.

    python benchmarks/scoring.py                       # all sizes (gseapy.gsva at 2,000 takes
                                                       #  minutes; at 5,000 it is skipped)
    python benchmarks/scoring.py --samples 500         # one size
    python benchmarks/scoring.py --methods ssgsea gsva

Peers: gseapy 1.3.1 (``ssgsea``, ``gsva``; threads = CPUs), decoupler 2 (``mt.gsva``,
``mt.zscore``), scanpy (``tl.score_genes`` for mean_z). ferroscope's GSVA uses numba threads =
CPUs. The numbers of one run are comparable with each other, not across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

N_GENES = int(os.environ.get("FERROSCOPE_BENCH_GENES", 20_000))
N_SETS = 20
CPUS = os.cpu_count() or 1

# method -> list of (implementation, runner name); the first is ferroscope
PEERS = {
    "ssgsea": ["ferroscope", "gseapy"],
    "gsva": ["ferroscope", "gseapy", "decoupler"],
    "zscore": ["ferroscope", "decoupler"],
    "mean_z": ["ferroscope", "scanpy"],
    "singscore": ["ferroscope"],
    "plage": ["ferroscope"],
}
# peers too slow to run at a size (seconds estimated from smaller sizes on 2 CPUs)
SKIP = {("gsva", "gseapy", 5000): "quadratic; ~45 min at 5,000 samples",
        ("gsva", "decoupler", 2000): "quadratic; ~40 s at 500 samples, ~10 min at 2,000",
        ("gsva", "decoupler", 5000): "quadratic; about an hour at 5,000 samples"}


def make_data(n_samples: int, seed: int = 1) -> tuple[np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    base = rng.normal(7.0, 1.5, size=(N_GENES, 1))
    x = base + rng.normal(0.0, 1.0, size=(N_GENES, n_samples))
    sizes = np.linspace(10, 200, N_SETS).astype(int)
    sets = [np.sort(rng.choice(N_GENES, size=s, replace=False)) for s in sizes]
    return x, sets


def _names(n: int, prefix: str) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def run_ferroscope(method: str, x: np.ndarray, sets: list[np.ndarray]) -> np.ndarray:
    from ferroscope.scoring import METHODS

    m = METHODS[method]
    if m.single_sample and x.shape[1] > 1000:
        out = np.hstack([m.func(x[:, s:s + 1000], sets) for s in range(0, x.shape[1], 1000)])
    else:
        out = m.func(x, sets)
    return m.post(out, {"normalize": False}) if m.post else out


def run_gseapy(method: str, x: np.ndarray, sets: list[np.ndarray]) -> np.ndarray:
    import gseapy
    import pandas as pd

    genes, samples = _names(x.shape[0], "g"), _names(x.shape[1], "s")
    df = pd.DataFrame(x, index=genes, columns=samples)
    gmt = {f"set{i}": [genes[g] for g in idx] for i, idx in enumerate(sets)}
    if method == "ssgsea":
        res = gseapy.ssgsea(data=df, gene_sets=gmt, outdir=None, sample_norm_method="rank",
                            min_size=1, max_size=100_000, threads=CPUS, no_plot=True)
    else:
        res = gseapy.gsva(data=df, gene_sets=gmt, outdir=None, kcdf="Gaussian", mx_diff=True,
                          min_size=1, max_size=100_000, threads=CPUS)
    es = res.res2d.pivot(index="Term", columns="Name", values="ES").astype(float)
    return es.loc[list(gmt), samples].to_numpy()


def run_decoupler(method: str, x: np.ndarray, sets: list[np.ndarray]) -> np.ndarray:
    import decoupler as dc
    import pandas as pd

    genes, samples = _names(x.shape[0], "g"), _names(x.shape[1], "s")
    df = pd.DataFrame(x.T, index=samples, columns=genes)
    net = pd.DataFrame([(f"set{i}", genes[g]) for i, idx in enumerate(sets) for g in idx],
                       columns=["source", "target"])
    func = {"gsva": dc.mt.gsva, "zscore": dc.mt.zscore}[method]
    res = func(data=df, net=net, tmin=1)
    es = res[0] if isinstance(res, tuple) else res
    return es.loc[samples, [f"set{i}" for i in range(len(sets))]].to_numpy().T


def run_scanpy(method: str, x: np.ndarray, sets: list[np.ndarray]) -> np.ndarray:
    from ferroscope.scoring.peers import scanpy_score_genes

    return scanpy_score_genes(x, sets)


RUNNERS = {"ferroscope": run_ferroscope, "gseapy": run_gseapy, "decoupler": run_decoupler,
           "scanpy": run_scanpy}


def worker(method: str, impl: str, n_samples: int, out: str) -> None:
    x, sets = make_data(n_samples)
    # imports (and numba compilation) happen before the clock starts, for every implementation
    RUNNERS[impl](method, x[:300, :12].copy(), [np.arange(10), np.arange(20, 40)])
    start = time.perf_counter()
    scores = RUNNERS[impl](method, x, sets)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.save(out, np.asarray(scores, dtype=np.float64))
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb}))


def measure(method: str, impl: str, n: int, tmp: Path) -> dict | None:
    out = tmp / f"{method}_{impl}_{n}.npy"
    res = subprocess.run([sys.executable, __file__, "--worker", method, impl, str(n), str(out)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        print(f"  {method}/{impl}/{n} failed:\n{res.stderr[-2000:]}", file=sys.stderr)
        return None
    row = json.loads(res.stdout.strip().splitlines()[-1])
    row["scores"] = np.load(out)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, nargs="+", default=[500, 2000, 5000])
    ap.add_argument("--methods", nargs="+", default=list(PEERS))
    ap.add_argument("--worker", nargs=4, metavar=("METHOD", "IMPL", "N", "OUT"))
    args = ap.parse_args()
    if args.worker:
        method, impl, n, out = args.worker
        worker(method, impl, int(n), out)
        return
    print(f"# {N_GENES} genes x samples, {N_SETS} sets of 10-200 genes, {CPUS} CPUs")
    print(f"{'method':<10} {'samples':>7} {'impl':<11} {'seconds':>9} {'peak MB':>9} "
          f"{'time x':>8} {'mem x':>7} {'max|diff|':>10}")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for n in args.samples:
            for method in args.methods:
                ours = measure(method, "ferroscope", n, tmp)
                if ours is None:
                    continue
                print(f"{method:<10} {n:>7} {'ferroscope':<11} {ours['seconds']:>9.2f} "
                      f"{ours['peak_mb']:>9.0f}", flush=True)
                for impl in PEERS[method][1:]:
                    if (method, impl, n) in SKIP:
                        print(f"{method:<10} {n:>7} {impl:<11} skipped: "
                              f"{SKIP[(method, impl, n)]}", flush=True)
                        continue
                    peer = measure(method, impl, n, tmp)
                    if peer is None:
                        continue
                    diff = (np.nanmax(np.abs(peer["scores"] - ours["scores"]))
                            if peer["scores"].shape == ours["scores"].shape else float("nan"))
                    print(f"{method:<10} {n:>7} {impl:<11} {peer['seconds']:>9.2f} "
                          f"{peer['peak_mb']:>9.0f} {peer['seconds'] / ours['seconds']:>8.1f} "
                          f"{peer['peak_mb'] / ours['peak_mb']:>7.2f} {diff:>10.2e}", flush=True)


if __name__ == "__main__":
    main()
