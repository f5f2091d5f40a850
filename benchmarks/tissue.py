"""Tumour vs non-tumour benchmark: ``tissue.compare`` (all features at once) against a
per-feature loop, in one run.

Synthetic scores, tumour = non-tumour + 0.3 + noise, {100, 700, 2,000} features x {213, 19}
pairs (GSE14520 GPL3921 and GPL571; 213 pairs take the normal-approximation branch with its
root search, 19 the exact branch). Every row is **in-function**: the wall time of the call
alone, the matrix built and the imports done before the clock starts (best of ``--repeat``).

* ``compare``: ``ferroscope.tissue.compare`` (signed-rank + HL estimate + CI + Hedges' g for
  every feature, one table).
* ``loop``: the same statistics one feature at a time through the scalar path
  (``ranktests.signed_rank`` and ``tissue.hedges_g`` per column): what a per-feature loop
  costs; ``loop/compare`` is the speed-up.
* ``scipy``: ``scipy.stats.wilcoxon`` per feature (the p-value only, no estimate or CI): the
  peer a user would reach for; ``scipy/compare`` compares it with the full result.

    python benchmarks/tissue.py                  # all sizes
    python benchmarks/tissue.py --features 100,700 --pairs 213 --repeat 3

The numbers of one run are comparable with each other, not across machines.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from scipy import stats as sps  # noqa: E402

from ferroscope import ranktests, tissue  # noqa: E402


def data(n_features: int, n_pairs: int, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    non = rng.normal(0, 1, (n_pairs, n_features))
    tum = non + 0.3 + rng.normal(0, 0.8, (n_pairs, n_features))
    ids = [f"T{i}" for i in range(n_pairs)] + [f"N{i}" for i in range(n_pairs)]
    groups = pd.DataFrame({tissue.GROUP: [tissue.TUMOUR] * n_pairs
                           + [tissue.NON_TUMOUR] * n_pairs,
                           tissue.PAIR: [f"P{i}" for i in range(n_pairs)] * 2}, index=ids)
    values = pd.DataFrame(np.vstack([tum, non]), index=ids,
                          columns=[f"F{j}" for j in range(n_features)])
    return values, groups


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", default="100,700,2000")
    ap.add_argument("--pairs", default="213,19")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    data(10, 20)  # warm-up: imports, caches
    tissue.compare(*data(10, 20), cohort="w", method="m")
    print(f"in-function wall seconds (best of {args.repeat}); ratios = other / compare")
    print(f"{'features':>8} {'pairs':>5} {'compare':>9} {'loop':>9} {'scipy':>9} "
          f"{'loop/compare':>12} {'scipy/compare':>13} {'max|diff|':>10}")
    for n_pairs in map(int, args.pairs.split(",")):
        for n_feat in map(int, args.features.split(",")):
            values, groups = data(n_feat, n_pairs)
            tum = values.iloc[:n_pairs].to_numpy().T.copy()
            non = values.iloc[n_pairs:].to_numpy().T.copy()
            out: dict[str, pd.DataFrame] = {}

            def ours(o=out, v=values, g=groups):
                o["t"] = tissue.compare(v, g, cohort="b", method="mean_z")

            loop_est = np.empty(n_feat)

            def loop(t=tum, n=non, est=loop_est):
                for j in range(len(t)):
                    est[j] = ranktests.signed_rank(t[j], n[j]).estimate
                    tissue.hedges_g(t[j], n[j], paired=True)

            def scipy_loop(t=tum, n=non):
                for j in range(len(t)):
                    sps.wilcoxon(t[j], n[j], correction=True)

            t_ours = best(ours, args.repeat)
            t_loop = best(loop, 1)
            t_scipy = best(scipy_loop, 1)
            diff = float(np.max(np.abs(out["t"]["estimate"].to_numpy() - loop_est)))
            print(f"{n_feat:>8} {n_pairs:>5} {t_ours:>9.3f} {t_loop:>9.3f} {t_scipy:>9.3f} "
                  f"{t_loop / t_ours:>12.1f} {t_scipy / t_ours:>13.2f} {diff:>10.1e}")


if __name__ == "__main__":
    main()
