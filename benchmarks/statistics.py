"""Statistics benchmark: the batch engine against the numpy batch-Cox floor and a lifelines loop.

Synthetic cohort: 400 patients (``--samples``), continuous survival times (no ties, so Efron
equals Breslow and the floor needs no tie handling), 30% censored, {100, 700, 3,000} scores
(``--features``), five of them with a planted HR per SD (1.3-1.6), the rest null. Each printed
row says how it was timed:

* ``in-function``: the call alone, data built in the same process before the clock starts,
  imports and numba compilation done first on a small problem; the best of ``--repeat`` runs.
  - ``floor``: a numpy batch Cox written here (Newton steps on reverse cumulative sums over the
    time-sorted risk set, all features at once, fixed 6 steps, no missing values, no tests, no
    edge cases): the least any batch Cox must do.
  - ``engine cox``: ``batchstats.cox_efron`` (converged to a step < 1e-12, SE, Wald and LR p,
    Harrell's C, edge cases).
  - ``engine screen``: ``cox_efron`` + ``logrank_median_split``: the screening tier.
  - ``survival step``: what the workflow's survival steps compute for one cohort x method x
    endpoint: the screening tier of every score, the BH q, the detail-tier selection
    (q < 0.05 and the 10 smallest p; no curated set names in synthetic data) and the detail
    tier (PH test, maxstat, tertiles, time split, td-AUC with 200 shared bootstrap resamples).
  - ``lifelines loop``: lifelines ``CoxPHFitter`` (Efron) fitted per score on a subset of
    ``--lifelines-subset`` scores, extrapolated linearly to all scores (said in the row).
* ``whole-process``: wall time of fresh ``python`` processes doing what the workflow's
  ``survival_screen`` and ``survival`` jobs do (start, import, read the score and clinical
  tables written beforehand, compute, write the table), for 700 scores.

``x floor`` is seconds / floor seconds of the same size.

    python benchmarks/statistics.py                         # all rows
    python benchmarks/statistics.py --features 700 --no-whole
    python benchmarks/statistics.py --workflow              # + collection workflow runs
    python benchmarks/statistics.py --workflow --gmt tiny.gmt --cohort-samples 120 \
        --cohort-genes 2000 --features 100 --no-whole    # a quick check of the workflow rows

``--workflow`` runs the whole workflow (snakemake, 2 cores) on gene-set collections: the
712-set WikiPathways GMT and a 3,000-set C2 collection built from
``../shared/genesets-reference/c2.all.v5.2.symbols.gmt.gz`` (the first 3,000 sets of 10-500
genes), each on 2 synthetic local cohorts of 400 patients whose genes are the collection's real
symbols (``ferroscope.demo.generate``), methods mean_z, ssgsea and gsva; it prints wall time,
the peak RSS of the largest job and the report size. The numbers of one run are comparable with
each other, not across machines.
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
SHARED = ROOT.parent / "shared" / "genesets-reference"
PLANTED = (1.6, 1.5, 1.4, 1.35, 1.3)


def make_data(n_features: int, n_samples: int = 400, seed: int = 1
              ) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_samples, n_features))
    lin = sum(np.log(hr) * x[:, k] for k, hr in enumerate(PLANTED[:n_features]))
    t = rng.exponential(1 / (0.03 * np.exp(lin)))
    c = rng.uniform(12, 120, n_samples)
    idx = pd.Index([f"S{i:04d}" for i in range(n_samples)], name="sample_id")
    scores = pd.DataFrame(x, index=idx, columns=[f"SET_{j:05d}" for j in range(n_features)])
    return (pd.Series(np.minimum(t, c), index=idx), pd.Series((t <= c).astype(float), index=idx),
            scores)


def floor_cox(time: np.ndarray, event: np.ndarray, x: np.ndarray, steps: int = 6) -> np.ndarray:
    """numpy batch Cox (Breslow = Efron without ties): Newton on reverse cumulative sums."""
    o = np.argsort(time)
    d = event[o].astype(bool)
    z = (x[o] - x.mean(0)) / x.std(0, ddof=1)
    beta = np.zeros(z.shape[1])
    for _ in range(steps):
        r = np.exp(z * beta)
        s0 = np.cumsum(r[::-1], 0)[::-1][d]
        s1 = np.cumsum((r * z)[::-1], 0)[::-1][d]
        s2 = np.cumsum((r * z * z)[::-1], 0)[::-1][d]
        m = s1 / s0
        beta += (z[d] - m).sum(0) / (s2 / s0 - m * m).sum(0)
    return beta


def survival_step(time: pd.Series, event: pd.Series, scores: pd.DataFrame) -> pd.DataFrame:
    """What survival_screen + detail_selection + survival compute for one cohort x method."""
    from ferroscope.statistics import combine, detail_selection, survival_rows
    from ferroscope.survival import survival_table

    screen = survival_rows({(s, "os"): r for s, r in survival_table(
        time, event, scores, detail=[], td_auc=False).items()}, "bench", "m")
    chosen = detail_selection(combine([screen]), q=0.05, top=10, curated=[])
    table = survival_table(time, event, scores, detail=chosen["set"], n_boot=200)
    return survival_rows({(s, "os"): r for s, r in table.items()}, "bench", "m")


def best_of(repeat: int, fn, *args) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best


def lifelines_loop(time_: pd.Series, event: pd.Series, scores: pd.DataFrame, k: int) -> float:
    import warnings

    from lifelines import CoxPHFitter

    cols = list(scores.columns[:k])
    t0 = time.perf_counter()
    for c in cols:
        z = (scores[c] - scores[c].mean()) / scores[c].std()
        df = pd.DataFrame({"time": time_, "event": event, "z": z})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            CoxPHFitter().fit(df, "time", "event")
    return (time.perf_counter() - t0) / len(cols) * scores.shape[1]


def screen(time_: pd.Series, event: pd.Series, scores: pd.DataFrame) -> None:
    from ferroscope.batchstats import cox_efron, logrank_median_split

    cox_efron(time_, event, scores)
    logrank_median_split(time_, event, scores)


def in_function(sizes: list[int], n_samples: int, repeat: int, subset: int) -> None:
    from ferroscope.batchstats import cox_efron

    t, e, x = make_data(20, 60)
    cox_efron(t, e, x)                     # numba compilation and imports, off the clock
    survival_step(t, e, x)
    print(f"{'row':<16}{'timing':<15}{'features':>9}{'seconds':>10}{'x floor':>9}  note")
    for p in sizes:
        t, e, x = make_data(p, n_samples)
        tv, ev, xv = t.to_numpy(), e.to_numpy(), x.to_numpy()
        floor = best_of(repeat, floor_cox, tv, ev, xv)
        res = cox_efron(t, e, x)
        diff = np.max(np.abs(res["log_hr"].to_numpy() - floor_cox(tv, ev, xv, steps=12)))
        rows = [("floor", floor, "numpy, 6 Newton steps"),
                ("engine cox", best_of(repeat, cox_efron, t, e, x),
                 f"converged; max|log HR - floor(12 steps)| = {diff:.1e}"),
                ("engine screen", best_of(repeat, screen, t, e, x),
                 "Cox + C + KM median-split log-rank"),
                ("survival step", best_of(1, survival_step, t, e, x),
                 "screen + q + selection + detail tier (one run)")]
        k = min(subset, p)
        rows.append(("lifelines loop", lifelines_loop(t, e, x, k),
                     f"CoxPHFitter per score: {k} timed, extrapolated to {p}"))
        for name, sec, note in rows:
            print(f"{name:<16}{'in-function':<15}{p:>9}{sec:>10.3f}{sec / floor:>9.1f}  {note}",
                  flush=True)


STEP_CODE = """
import sys, time
t0 = time.perf_counter()
sys.path.insert(0, {src!r})
from ferroscope.checks import read_clinical, read_scores
from ferroscope.io import write_tsv
from ferroscope.statistics import survival_rows
from ferroscope.survival import survival_table
clin = read_clinical({clin!r})
scores = read_scores({scores!r}, clin.index)
detail = {detail!r}
table = survival_table(clin["os_time_months"], clin["os_event"], scores, detail=detail,
                       td_auc=bool(detail), n_boot=200)
write_tsv(survival_rows({{(s, "os"): r for s, r in table.items()}}, "bench", "m"), {out!r})
"""


def whole_process(p: int, n_samples: int, tmp: Path) -> None:
    from ferroscope.io import write_tsv
    from ferroscope.statistics import combine, detail_selection

    t, e, x = make_data(p, n_samples)
    clin = pd.DataFrame({"sample_id": x.index, "os_time_months": t.to_numpy(),
                         "os_event": e.to_numpy().astype(int)})
    write_tsv(clin, tmp / "clinical.tsv")
    write_tsv(x.reset_index(), tmp / "scores.tsv", na_rep="NA")
    from ferroscope.statistics import survival_rows
    from ferroscope.survival import survival_table

    rows = survival_rows({(s, "os"): r for s, r in survival_table(
        t, e, x, detail=[], td_auc=False).items()}, "bench", "m")
    detail = list(detail_selection(combine([rows]), q=0.05, top=10, curated=[])["set"])
    total = 0.0
    for name, det in (("screen step", []), ("detail step", detail)):
        code = STEP_CODE.format(src=str(ROOT / "src"), clin=str(tmp / "clinical.tsv"),
                                scores=str(tmp / "scores.tsv"), detail=det,
                                out=str(tmp / f"{name}.tsv"))
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        sec = time.perf_counter() - t0
        total += sec
        print(f"{name:<16}{'whole-process':<15}{p:>9}{sec:>10.3f}{'':>9}  fresh python: "
              f"import, read, compute ({len(det)} detail), write", flush=True)
    print(f"{'both steps':<16}{'whole-process':<15}{p:>9}{total:>10.3f}", flush=True)


def c2_collection(out: Path, n_sets: int = 3000) -> Path:
    """The first n_sets sets of 10-500 genes of the shared MSigDB C2 (all) GMT."""
    src = SHARED / "c2.all.v5.2.symbols.gmt.gz"
    lines = []
    with gzip.open(src, "rt") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if 10 <= len(parts) - 2 <= 500:
                lines.append(line if line.endswith("\n") else line + "\n")
            if len(lines) == n_sets:
                break
    out.write_text("".join(lines))
    return out


def workflow_run(gmt: Path, n_samples: int, n_genes: int, tmp: Path,
                 n_cohorts: int = 2) -> None:
    import yaml

    from ferroscope import demo
    from ferroscope.genesets import AliasTable, read_gmt

    wd = tmp / gmt.stem
    (wd / "config").mkdir(parents=True)
    (wd / "data").mkdir()
    gs = ROOT / "resources" / "genesets"
    aliases = AliasTable.read(gs / "aliases.tsv")
    sets = read_gmt(gs / "ferroptosis.gmt", aliases) + read_gmt(gmt, aliases)
    genes = {g for s in sets for g in s.genes}
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    demo_entry = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())["cohorts"]["demo"]
    cohorts = {}
    for k, seed in enumerate((11, 12)[:n_cohorts]):
        cohort = demo.generate(sets, n_patients=n_samples, n_genes=max(n_genes, len(genes)),
                               seed=seed)
        demo.write(cohort, wd / "data" / f"expr{k}.tsv.gz", wd / "data" / f"clin{k}.tsv")
        entry = dict(demo_entry, source="local", expression=f"data/expr{k}.tsv.gz",
                     clinical_table=f"data/clin{k}.tsv")
        entry.pop("demo")
        cohorts[f"cohort{k}"] = entry
    cfg["cohorts"] = cohorts
    cfg["genesets"]["gmt"] = str(gmt.resolve())
    cfg["scoring"]["methods"] = ["mean_z", "ssgsea", "gsva"]
    cfg["models"] = {}
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    t0 = time.perf_counter()
    res = subprocess.run([snakemake, "-s", str(ROOT / "Snakefile"), "-d", str(wd), "--cores",
                          "2", "--quiet"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        print(res.stderr[-3000:])
        raise SystemExit(f"workflow failed on {gmt}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    report = (wd / "results" / "report.html").stat().st_size / 1e6
    stats = pd.read_csv(wd / "results" / "statistics.tsv", sep="\t", low_memory=False)
    n_sets = len(read_gmt(gmt, aliases))
    tiers = stats["tier"].value_counts().to_dict() if "tier" in stats else {}
    print(f"{'workflow':<16}{'whole-process':<15}{n_sets:>9}{wall:>10.1f}{'':>9}  "
          f"{gmt.name}: {n_cohorts} cohort(s) x {n_samples} patients, 3 methods; peak RSS of "
          f"the largest process {peak:.0f} MB (cumulative max over runs so far); "
          f"report {report:.1f} MB; rows by tier {tiers}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", nargs="+", type=int, default=[100, 700, 3000])
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lifelines-subset", type=int, default=20)
    ap.add_argument("--no-whole", action="store_true", help="skip the whole-process rows")
    ap.add_argument("--workflow", action="store_true",
                    help="also run the workflow on gene-set collections (minutes)")
    ap.add_argument("--gmt", nargs="+", type=Path,
                    help="collections for --workflow (default: WikiPathways and C2 3,000)")
    ap.add_argument("--cohort-samples", type=int, default=400)
    ap.add_argument("--cohorts", type=int, default=2, choices=(1, 2),
                    help="synthetic cohorts per --workflow run")
    ap.add_argument("--cohort-genes", type=int, default=12548,
                    help="genes of each synthetic cohort (at least the collection's genes)")
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs; {args.samples} samples; best of {args.repeat}")
    in_function(args.features, args.samples, args.repeat, args.lifelines_subset)
    with tempfile.TemporaryDirectory(prefix="ferroscope-bench-") as d:
        tmp = Path(d)
        if not args.no_whole:
            whole_process(700, args.samples, tmp)
        if args.workflow:
            gmts = args.gmt or [SHARED / "c2.cp.wikipathways.v2022.1.Hs.symbols.gmt",
                                c2_collection(tmp / "c2_3000.gmt")]
            for g in gmts:
                workflow_run(Path(g), args.cohort_samples, args.cohort_genes, tmp, args.cohorts)


if __name__ == "__main__":
    main()
