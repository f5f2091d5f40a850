"""Scoring benchmark: ferroscope against its peers and the sorting floor, measured in one run.

Synthetic log-scale matrix, 20,000 genes x {500, 2,000, 5,000} samples (``--samples``), 20 gene
sets of 10-200 genes. Every measurement runs in its own Python process so that its peak memory
(ru_maxrss) is its own. Each printed row says how it was timed:

* ``in-function``: the scoring call alone; the matrix is built in that process before the clock
  starts (imports and numba compilation are done first, on a small matrix), in the layout the
  workflow's score step passes (genes x samples viewed from the prepared samples x genes
  matrix: each sample contiguous, as for the floor).
* ``whole-process``: the wall time of a fresh ``python`` process doing what the workflow's score
  step does for one cohort: start, import, read an h5ad (written beforehand), score, write the
  table. This is what a user waits for per cohort and method.

``floor`` rows are numpy's argsort of every sample's column of the same matrix (samples split
over as many threads as numba uses): every rank-based method must at least sort each sample
once, so ``x floor`` (seconds / floor seconds) says how close a method gets to that bound.
``peer/ours`` is the peer's time divided by ferroscope's with the same timing kind.

    python benchmarks/scoring.py                              # all sizes, all methods, peers
    python benchmarks/scoring.py --samples 10000 --methods gsva
    python benchmarks/scoring.py --samples 1000 --methods ssgsea,gsva --no-peers

Methods: ``gsva`` is GSVA with ``kcdf = "auto"`` (R GSVA 2.x's default: the direct ECDF from
200 samples on); ``gsva_gaussian`` forces the Gaussian kernel (quadratic in samples; the one
gseapy and decoupler implement, so max|diff| is shown only there). Peers: gseapy 1.3.1
(``ssgsea``, ``gsva``; threads = CPUs), decoupler 2 (``mt.gsva``, ``mt.zscore``), scanpy
(``tl.score_genes`` for mean_z). The numbers of one run are comparable with each other, not
across machines.
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
    "gsva": ["ferroscope", "gseapy"],
    "gsva_gaussian": ["ferroscope", "gseapy", "decoupler"],
    "zscore": ["ferroscope", "decoupler"],
    "mean_z": ["ferroscope", "scanpy"],
    "singscore": ["ferroscope"],
    "plage": ["ferroscope"],
}
# peers too slow (or too large) to run at a size: (method, impl) -> (largest size run, why)
LIMITS = {("gsva", "gseapy"): (2000, "quadratic; ~45 min at 5,000 samples"),
          ("gsva_gaussian", "gseapy"): (2000, "quadratic; ~45 min at 5,000 samples"),
          ("gsva_gaussian", "decoupler"): (500, "quadratic; ~40 s at 500 samples, ~10 min at "
                                                "2,000"),
          ("ssgsea", "gseapy"): (5000, "memory: about 2.3 GB per 1,000 samples")}


def skip_reason(method: str, impl: str, n: int) -> str | None:
    limit = LIMITS.get((method, impl))
    return limit[1] if limit and n > limit[0] else None


# timings whose scores are not comparable (different CDF estimate): no max|diff|
NO_DIFF = {("gsva", "gseapy")}


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
    from ferroscope.scoring import METHODS, settings

    name = "gsva" if method.startswith("gsva") else method
    params = ({"kcdf": "Gaussian"} if method == "gsva_gaussian" else
              {"normalize": False} if method == "ssgsea" else {})
    m, opts = METHODS[name], settings(name, params)
    if m.single_sample and x.shape[1] > 1000:
        out = np.hstack([m.func(x[:, s:s + 1000], sets, opts)
                         for s in range(0, x.shape[1], 1000)])
    else:
        out = m.func(x, sets, opts)
    return m.post(out, opts) if m.post else out


def run_floor(method: str, x: np.ndarray, sets: list[np.ndarray]) -> np.ndarray:
    """numpy argsort of every sample's column (the same threads as the numba kernels)."""
    from ferroscope.scoring._threads import over_row_blocks

    xt = run_floor.xt if getattr(run_floor, "xt", None) is not None else x.T
    start = time.perf_counter()

    def block(a: int, b: int) -> None:
        np.argsort(xt[a:b], axis=1)

    over_row_blocks(xt.shape[0], block)
    run_floor.seconds = time.perf_counter() - start
    return np.zeros((len(sets), x.shape[1]))


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
           "scanpy": run_scanpy, "numpy": run_floor}


def worker(method: str, impl: str, n_samples: int, out: str) -> None:
    x, sets = make_data(n_samples)
    # imports (and numba compilation) happen before the clock starts, for every implementation
    RUNNERS[impl](method, x[:300, :12].copy(), [np.arange(10), np.arange(20, 40)])
    if impl == "numpy":  # the floor sorts columns: lay them out contiguously before the clock
        run_floor.xt = np.ascontiguousarray(x.T)
    if impl == "ferroscope":
        # the layout the score step hands over: genes x samples as a view of the prepared
        # cohort's samples x genes matrix (Fortran order), so each sample is contiguous, as
        # for the floor; methods that need gene rows contiguous (GSVA) re-lay it inside the clock
        x = np.asfortranarray(x)
    start = time.perf_counter()
    scores = RUNNERS[impl](method, x, sets)
    seconds = time.perf_counter() - start
    if impl == "numpy":
        seconds = run_floor.seconds
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.save(out, np.asarray(scores, dtype=np.float64))
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb}))


def write_cohort(n_samples: int, tmp: Path) -> Path:
    """The benchmark matrix as a prepared-cohort h5ad (samples x genes) plus its sets."""
    import anndata as ad

    path = tmp / f"cohort_{n_samples}.h5ad"
    if not path.exists():
        x, sets = make_data(n_samples)
        adata = ad.AnnData(np.ascontiguousarray(x.T))
        adata.var_names = _names(x.shape[0], "g")
        adata.obs_names = _names(x.shape[1], "s")
        adata.write_h5ad(path)
        (tmp / f"cohort_{n_samples}.sets.json").write_text(
            json.dumps([[int(g) for g in idx] for idx in sets]))
    return path


def step(method: str, impl: str, h5ad: str, out: str) -> None:
    """Whole-process mode: what the score step does for one cohort (read, score, write)."""
    import anndata as ad

    adata = ad.read_h5ad(h5ad)
    expr = adata.to_df().T
    sets = json.loads(Path(h5ad).with_suffix(".sets.json").read_text())
    if impl == "ferroscope":
        from ferroscope.genesets import GeneSet
        from ferroscope.io import write_tsv
        from ferroscope.scoring import check_matrix, score_sets

        check_matrix(expr, h5ad)
        gs = [GeneSet(f"set{i}", tuple(expr.index[idx])) for i, idx in enumerate(sets)]
        params = {"kcdf": "Gaussian"} if method == "gsva_gaussian" else {}
        scores = score_sets(expr, gs, "gsva" if method.startswith("gsva") else method,
                            params=params)
        scores.index.name = "sample_id"
        write_tsv(scores, out, index=True)
    else:
        scores = RUNNERS[impl](method, expr.to_numpy(), [np.array(i) for i in sets])
        pd_frame = __import__("pandas").DataFrame(scores.T, index=expr.columns)
        pd_frame.to_csv(out, sep="\t")
    print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


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


def measure_whole(method: str, impl: str, n: int, tmp: Path) -> dict | None:
    h5ad = write_cohort(n, tmp)
    out = tmp / f"{method}_{impl}_{n}.tsv"
    start = time.perf_counter()
    res = subprocess.run([sys.executable, __file__, "--step", method, impl, str(h5ad), str(out)],
                         capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if res.returncode != 0:
        print(f"  whole-process {method}/{impl}/{n} failed:\n{res.stderr[-2000:]}",
              file=sys.stderr)
        return None
    return {"seconds": seconds, **json.loads(res.stdout.strip().splitlines()[-1])}


def _list(values: list[str]) -> list[str]:
    return [v for item in values for v in item.split(",") if v]


def _row(method: str, n: int, impl: str, timing: str, r: dict, floor: float | None,
         ours: dict | None = None, diff: float | None = None) -> None:
    xf = f"{r['seconds'] / floor:>8.2f}" if floor else f"{'':>8}"
    ratio = f"{r['seconds'] / ours['seconds']:>9.1f}" if ours else f"{'':>9}"
    d = f"{diff:>10.2e}" if diff is not None else f"{'':>10}"
    print(f"{method:<13} {n:>7} {impl:<11} {timing:<13} {r['seconds']:>9.2f} "
          f"{r['peak_mb']:>8.0f} {xf} {ratio} {d}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", nargs="+", default=["500", "2000", "5000"],
                    help="sample counts (space- or comma-separated)")
    ap.add_argument("--methods", nargs="+", default=list(PEERS),
                    help=f"methods (space- or comma-separated) among {', '.join(PEERS)}")
    ap.add_argument("--no-peers", action="store_true", help="ferroscope and the floor only")
    ap.add_argument("--no-whole", action="store_true", help="skip the whole-process rows")
    ap.add_argument("--worker", nargs=4, metavar=("METHOD", "IMPL", "N", "OUT"))
    ap.add_argument("--step", nargs=4, metavar=("METHOD", "IMPL", "H5AD", "OUT"))
    args = ap.parse_args()
    if args.worker:
        method, impl, n, out = args.worker
        worker(method, impl, int(n), out)
        return
    if args.step:
        step(*args.step)
        return
    sizes = [int(v) for v in _list(args.samples)]
    methods = _list(args.methods)
    unknown = sorted(set(methods) - set(PEERS))
    if unknown:
        ap.error(f"unknown method(s) {unknown}; use {', '.join(PEERS)}")
    import numba

    print(f"# {N_GENES} genes x samples, {N_SETS} sets of 10-200 genes, {CPUS} CPUs, "
          f"{numba.get_num_threads()} numba threads")
    print(f"{'method':<13} {'samples':>7} {'impl':<11} {'timing':<13} {'seconds':>9} "
          f"{'peak MB':>8} {'x floor':>8} {'peer/ours':>9} {'max|diff|':>10}")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for n in sizes:
            fl = measure("floor", "numpy", n, tmp)
            floor = fl["seconds"] if fl else None
            if fl:
                _row("argsort", n, "numpy", "in-function", fl, None)
            for method in methods:
                ours = measure(method, "ferroscope", n, tmp)
                if ours is None:
                    continue
                _row(method, n, "ferroscope", "in-function", ours, floor)
                for impl in ([] if args.no_peers else PEERS[method][1:]):
                    if skip_reason(method, impl, n):
                        print(f"{method:<13} {n:>7} {impl:<11} skipped: "
                              f"{skip_reason(method, impl, n)}", flush=True)
                        continue
                    peer = measure(method, impl, n, tmp)
                    if peer is None:
                        continue
                    diff = None
                    if (method, impl) not in NO_DIFF and \
                            peer["scores"].shape == ours["scores"].shape:
                        diff = float(np.nanmax(np.abs(peer["scores"] - ours["scores"])))
                    _row(method, n, impl, "in-function", peer, floor, ours, diff)
                if args.no_whole:
                    continue
                whole = measure_whole(method, "ferroscope", n, tmp)
                if whole is None:
                    continue
                _row(method, n, "ferroscope", "whole-process", whole, floor)
                for impl in ([] if args.no_peers else PEERS[method][1:2]):
                    if skip_reason(method, impl, n):
                        continue
                    peer = measure_whole(method, impl, n, tmp)
                    if peer is not None:
                        _row(method, n, impl, "whole-process", peer, floor, whole)


if __name__ == "__main__":
    main()
