"""Intermediates are verified: every step checks what it reads (ferroscope.checks).

A damaged intermediate (cut short, edited, from an older ferroscope, for other samples) stops
the step that reads it with one message naming the file, the problem and the fix (delete it or
``--forcerun <rule>``), and no result file is written or changed. Two cases run through
``snakemake`` because the workflow path is the point (Snakemake reuses a file whose mtime is
newer than its inputs); the others call the readers directly on files from one small run.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from ferroscope import checks
from ferroscope.errors import FerroscopeError
from ferroscope.io import write_tsv

from .conftest import local_cohort_config, make_workdir, run_snakemake

COHORT = "local"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished workflow on a small local cohort (60 patients, 800 genes)."""
    tmp = tmp_path_factory.mktemp("intermediates")
    wd = make_workdir(tmp, local_cohort_config(tmp))
    res = run_snakemake(wd)
    assert res.returncode == 0, res.stderr[-4000:]
    return wd


def digests(root: Path) -> dict[str, str]:
    """sha256 of every file under results/ (to show that nothing was written or changed)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "results").rglob("*")) if p.is_file()}


@pytest.fixture
def copy(run: Path, tmp_path: Path) -> Path:
    """A private copy of the finished run (mtimes kept), to damage."""
    dst = tmp_path / "wd"
    shutil.copytree(run, dst, symlinks=True)
    return dst


def unchanged(before: dict[str, str], after: dict[str, str], *, removed: set[str]) -> None:
    """No file changed or appeared; only the outputs of the failed jobs (which Snakemake
    deletes before it runs a job) may be gone."""
    assert {k: v for k, v in after.items() if before.get(k) != v} == {}
    assert set(before) - set(after) <= removed, set(before) - set(after)
    for final in ("results/statistics.tsv", "results/report.html"):
        assert after[final] == before[final]


def expect(exc: pytest.ExceptionInfo, path: Path, *problem: str, rule: str) -> None:
    msg = str(exc.value)
    assert str(path) in msg, msg
    for word in problem:
        assert word in msg, msg
    assert "Fix:" in msg and f"delete {path}" in msg and f"--forcerun {rule}" in msg, msg


def truncate(path: Path, fraction: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


# ---------------------------------------------------------------- through snakemake (slow)

@pytest.mark.slow
@pytest.mark.bad_input
def test_truncated_score_table_stops_the_next_run(copy):
    """Issue 11's silent case: mean_z.tsv cut in half was reused (rc 0, 29 of 60 samples)."""
    scores = copy / "results" / COHORT / "scores" / "mean_z.tsv"
    truncate(scores)
    before = digests(copy)
    res = run_snakemake(copy)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out[-3000:]
    assert str(scores) in out or f"results/{COHORT}/scores/mean_z.tsv" in out, out[-3000:]
    assert "does not hold the samples of the cohort" in out or "truncated" in out, out[-3000:]
    assert "--forcerun score" in out and "delete" in out, out[-3000:]
    unchanged(before, digests(copy), removed={
        *(f"results/{COHORT}/{step}/mean_z.tsv" for step in ("survival", "response")),
        *(f"results/{COHORT}/screen/{step}_mean_z.tsv" for step in ("survival", "response"))})
    assert not list(copy.rglob("*.part*"))


@pytest.mark.slow
@pytest.mark.bad_input
def test_truncated_prepared_h5ad_stops_with_path_and_fix(copy):
    h5ad = copy / "results" / COHORT / "prepared.h5ad"
    truncate(h5ad)
    before = digests(copy)
    res = run_snakemake(copy)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert f"results/{COHORT}/prepared.h5ad" in out and "cannot be read as an AnnData" in out
    assert "--forcerun prepare" in out, out[-3000:]
    # the jobs downstream of prepared.h5ad that Snakemake set out to rerun: their outputs
    # were deleted before the run stopped, nothing else changed
    unchanged(before, digests(copy), removed={
        *(f"results/{COHORT}/{p}" for p in ("coverage.tsv", "scores/mean_z.tsv",
                                            "scores/ssgsea.tsv", "scores/gsva.tsv")),
        *(f"results/signatures/{p}.tsv" for p in ("statistics", "scores", "coverage",
                                                  "calibration", "calibration_curve"))})


# ---------------------------------------------------------------- readers, directly

def scores_path(wd: Path, method: str = "mean_z") -> Path:
    return wd / "results" / COHORT / "scores" / f"{method}.tsv"


def cohort_samples(wd: Path) -> pd.Index:
    return checks.read_clinical(wd / "results" / COHORT / "clinical.tsv").index


@pytest.mark.slow
def test_readers_accept_the_workflow_outputs(run):
    samples = cohort_samples(run)
    adata = checks.read_h5ad(run / "results" / COHORT / "prepared.h5ad")
    assert adata.X.dtype == np.float64 and list(adata.obs_names) == list(samples)
    for method in ("mean_z", "ssgsea", "gsva"):
        s = checks.read_scores(scores_path(run, method), samples)
        assert list(s.index) == list(samples) and s.notna().all().all()
    stats = checks.read_statistics(run / "results" / "statistics.tsv")
    assert (stats["status"] == "ok").any()
    assert not np.isinf(stats.select_dtypes("number").to_numpy()).any()
    cov = checks.read_coverage(run / "results" / COHORT / "coverage.tsv")
    assert cov["scored"].dtype == bool
    # numbers pass from the per-cohort table to statistics.tsv bit for bit (lossless floats)
    surv = checks.read_results(run / "results" / COHORT / "survival" / "mean_z.tsv",
                               cohort=COHORT, method="mean_z")
    merged = surv.merge(stats, on=["cohort", "method", "set", "endpoint"], suffixes=("", "_s"))
    assert len(merged) == len(surv) > 0
    for col in ("estimate", "p", "log_hr", "se_log_hr", "p_lr"):
        a, b = merged[col].to_numpy(float), merged[f"{col}_s"].to_numpy(float)
        assert ((a == b) | (np.isnan(a) & np.isnan(b))).all(), col


def _edit_scores(wd: Path, edit) -> Path:
    path = scores_path(wd)
    df = pd.read_csv(path, sep="\t", index_col="sample_id")
    edit(df).to_csv(path, sep="\t")
    return path


@pytest.mark.slow
@pytest.mark.bad_input
@pytest.mark.parametrize("case,edit,words", [
    ("extra sample", lambda d: pd.concat([d, d.iloc[[0]].rename(index=lambda _: "INTRUDER")]),
     ["not in the cohort", "INTRUDER"]),
    ("missing sample", lambda d: d.iloc[1:], ["missing"]),
    ("duplicated sample", lambda d: pd.concat([d, d.iloc[[0]]]), ["more than once"]),
    ("empty score", lambda d: d.assign(**{d.columns[0]: d.iloc[:, 0].where(
        np.arange(len(d)) != 3)}), ["missing or non-numeric", "row 4"]),
    ("text in a score", lambda d: d.astype(object).assign(**{d.columns[0]: "n/a"}),
     ["missing or non-numeric", "'n/a'"]),
    ("infinite score", lambda d: d.assign(**{d.columns[0]: np.inf}),
     ["missing or non-numeric"]),
], ids=lambda v: v if isinstance(v, str) else "")
def test_score_table_must_hold_the_cohort_samples(copy, case, edit, words):
    path = _edit_scores(copy, edit)
    samples = cohort_samples(copy)
    before = digests(copy)
    with pytest.raises(FerroscopeError) as exc:
        checks.read_scores(path, samples)
    expect(exc, path, *words, rule="score")
    assert digests(copy) == before


@pytest.mark.slow
@pytest.mark.bad_input
def test_empty_score_file(copy):
    path = scores_path(copy)
    path.write_bytes(b"")
    with pytest.raises(FerroscopeError) as exc:
        checks.read_scores(path, cohort_samples(copy))
    expect(exc, path, "cannot be read as the score table", rule="score")


@pytest.mark.slow
@pytest.mark.bad_input
def test_truncated_h5ad_read_directly(copy):
    path = copy / "results" / COHORT / "prepared.h5ad"
    truncate(path, 0.3)
    before = digests(copy)
    for backed in (False, True):
        with pytest.raises(FerroscopeError) as exc:
            checks.read_h5ad(path, backed=backed)
        expect(exc, path, "cannot be read as an AnnData", "truncated", rule="prepare")
    assert digests(copy) == before


@pytest.mark.slow
@pytest.mark.bad_input
def test_float32_h5ad_from_an_older_ferroscope(copy):
    path = copy / "results" / COHORT / "prepared.h5ad"
    adata = ad.read_h5ad(path)
    adata.X = adata.X.astype(np.float32)
    adata.write_h5ad(path)
    with pytest.raises(FerroscopeError) as exc:
        checks.read_h5ad(path)
    expect(exc, path, "float32, not float64", rule="prepare")


@pytest.mark.slow
@pytest.mark.bad_input
def test_statistics_table_missing_a_column(copy):
    path = copy / "results" / "statistics.tsv"
    pd.read_csv(path, sep="\t").drop(columns="q").to_csv(path, sep="\t", index=False)
    with pytest.raises(FerroscopeError) as exc:
        checks.read_statistics(path)
    expect(exc, path, "lacks column(s) q", rule="statistics")


@pytest.mark.slow
@pytest.mark.bad_input
def test_statistics_table_cut_mid_row(copy):
    path = copy / "results" / "statistics.tsv"
    lines = path.read_text().splitlines(keepends=True)
    keep = "".join(lines[:3]) + lines[3][:40]   # the 3rd data row ends after 40 characters
    path.write_text(keep)
    with pytest.raises(FerroscopeError) as exc:
        checks.read_statistics(path)
    expect(exc, path, "probably truncated", rule="statistics")


@pytest.mark.slow
@pytest.mark.bad_input
def test_statistics_table_with_unknown_status(copy):
    path = copy / "results" / "statistics.tsv"
    df = pd.read_csv(path, sep="\t")
    df.loc[0, "status"] = "okay"
    df.to_csv(path, sep="\t", index=False)
    with pytest.raises(FerroscopeError) as exc:
        checks.read_statistics(path)
    expect(exc, path, "status 'okay'", rule="statistics")


@pytest.mark.slow
@pytest.mark.bad_input
def test_results_table_of_another_cohort(copy):
    path = copy / "results" / COHORT / "survival" / "mean_z.tsv"
    with pytest.raises(FerroscopeError) as exc:
        checks.read_results(path, cohort="other", method="mean_z")
    expect(exc, path, "is for cohort ['local'], not 'other'", rule="survival")


@pytest.mark.slow
@pytest.mark.bad_input
@pytest.mark.parametrize("case,column,value,words", [
    ("event 2", "os_event", 2.0, ["other than 0, 1 or empty", "os_event"]),
    ("negative time", "os_time_months", -1.0, ["negative time", "os_time_months"]),
    ("text time", "os_time_months", "56 days", ["missing or non-numeric", "'56 days'"]),
], ids=lambda v: v if isinstance(v, str) and " " in v else "")
def test_prepared_clinical_values(copy, case, column, value, words):
    path = copy / "results" / COHORT / "clinical.tsv"
    df = pd.read_csv(path, sep="\t").astype({column: object})
    df.loc[2, column] = value
    df.to_csv(path, sep="\t", index=False)
    with pytest.raises(FerroscopeError) as exc:
        checks.read_clinical(path)
    expect(exc, path, *words, rule="prepare")


@pytest.mark.slow
@pytest.mark.bad_input
def test_prepared_clinical_without_a_covariate(copy):
    path = copy / "results" / COHORT / "clinical.tsv"
    pd.read_csv(path, sep="\t").drop(columns="stage").to_csv(path, sep="\t", index=False)
    with pytest.raises(FerroscopeError) as exc:
        checks.read_clinical(path, columns=["stage", "age"])
    expect(exc, path, "lacks column(s) stage", rule="prepare")


@pytest.mark.slow
@pytest.mark.bad_input
def test_coverage_table_cut_short(copy):
    path = copy / "results" / COHORT / "coverage.tsv"
    df = pd.read_csv(path, sep="\t")
    df["scored"] = df["scored"].astype(object)
    df.loc[len(df) - 1, "scored"] = "Tr"
    df.to_csv(path, sep="\t", index=False)
    with pytest.raises(FerroscopeError) as exc:
        checks.read_coverage(path)
    expect(exc, path, "'Tr'", rule="coverage")


# ---------------------------------------------------------------- write path (no workflow)

@pytest.mark.bad_input
def test_write_tsv_refuses_inf_and_writes_nothing(tmp_path):
    path = tmp_path / "results" / "statistics.tsv"
    df = pd.DataFrame({"set": ["A", "B"], "km_median_high": [12.5, np.inf]})
    with pytest.raises(FerroscopeError) as exc:
        write_tsv(df, path)
    msg = str(exc.value)
    assert str(path) in msg and "km_median_high" in msg and "never holds inf" in msg
    assert "Fix:" in msg and "bug" in msg
    assert not path.exists() and not list(tmp_path.rglob("*.part*"))


def test_write_tsv_is_lossless(tmp_path):
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"x": rng.normal(size=1000) * 10.0 ** rng.uniform(-300, 300, 1000),
                       "y": 1 / 3})
    write_tsv(df, tmp_path / "t.tsv")
    text = (tmp_path / "t.tsv").read_text()
    back = pd.read_csv(tmp_path / "t.tsv", sep="\t", float_precision="round_trip")
    assert (back["x"].to_numpy() == df["x"].to_numpy()).all()
    assert "\t0.3333333333333333\n" in text     # shortest repr, not %.17g noise


@pytest.mark.bad_input
def test_infinite_expression_stops_prepare(tmp_path):
    from ferroscope.prepare import PrepareNotes, build_anndata

    expr = pd.DataFrame({"S1": [1.0, np.inf], "S2": [2.0, 3.0]}, index=["GPX4", "SLC7A11"])
    clin = pd.DataFrame({"sample_id": ["S1", "S2"], "os_time_months": [1.0, 2.0]})
    with pytest.raises(FerroscopeError) as exc:
        build_anndata(expr, clin, PrepareNotes(), cohort="c", source="clin.tsv",
                      provenance={"inputs": [{"role": "expression", "path": "expr.tsv"}]})
    msg = str(exc.value)
    assert msg.startswith("expr.tsv") and "SLC7A11" in msg and "S1" in msg and "Fix:" in msg


def test_prepared_matrix_is_float64_and_keeps_huge_values():
    from ferroscope.prepare import PrepareNotes, build_anndata

    x = np.array([[1e300, 7.123456789012345], [2.0, 3.0]])
    expr = pd.DataFrame(x, index=["GPX4", "SLC7A11"], columns=["S1", "S2"])
    clin = pd.DataFrame({"sample_id": ["S1", "S2"]})
    adata = build_anndata(expr, clin, PrepareNotes(), cohort="c", source="c.tsv",
                          provenance={})
    assert adata.X.dtype == np.float64
    np.testing.assert_array_equal(adata.X, x.T)      # bit for bit; 1e300 is not inf
