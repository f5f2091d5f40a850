"""Exactness end to end: the real GSE14520-GPL571 matrix through ``snakemake`` equals R GSVA.

The scoring functions equal R GSVA 1.46 to 1e-13 on the same matrix; this test checks that
nothing on the way through the workflow bends the numbers: the test writes the real series
matrix (43 arrays, probes collapsed to symbols) and its survival table as a *local* cohort,
runs ``snakemake`` to the score tables, and has R score the prepared matrix (read back from
``prepared.h5ad`` and handed to R losslessly) with the sets the workflow scored. Before
float64 in ``prepared.h5ad`` and lossless floats in the score tables the workflow differed from
R by up to 2e-4 (GSVA); the last test shows that difference is real, so this test can fail.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ferroscope.checks import read_clinical, read_h5ad, read_scores
from ferroscope.genesets import AliasTable, read_gmt
from ferroscope.io import write_tsv
from ferroscope.scoring import score_sets
from ferroscope.sources import geo

from .conftest import REPO, make_workdir, run_snakemake, shared_path
from .rref import run_r

pytestmark = [pytest.mark.shared, pytest.mark.slow]

COHORT = "GSE14520-GPL571"
METHODS = ("gsva", "zscore", "ssgsea")

R_CODE = """
suppressMessages(library(GSVA))
x <- as.matrix(read.delim("expr.tsv", row.names = 1, check.names = FALSE))
l <- strsplit(readLines("sets.txt"), "\\t")
gs <- lapply(l, function(v) v[-1]); names(gs) <- sapply(l, `[`, 1)
out <- function(es, name) {
  es <- formatC(es, digits = 17, format = "g")   # every digit (write.table keeps 15)
  write.table(es, name, sep = "\\t", quote = FALSE)
}
run <- function(...) suppressWarnings(gsva(x, gs, min.sz = 1, verbose = FALSE, ...))
out(run(method = "gsva", kcdf = "Gaussian", mx.diff = TRUE), "gsva.tsv")
out(run(method = "zscore"), "zscore.tsv")
out(run(method = "ssgsea", tau = 0.25, ssgsea.norm = TRUE), "ssgsea.tsv")
"""


def write_cohort(data: Path) -> None:
    """The real GPL571 series matrix as genes x samples, and its OS table, as local files."""
    sm = geo.read_series_matrix(shared_path("cohorts", "GSE14520",
                                            "GSE14520-GPL571_series_matrix.txt.gz"))
    symbols = geo.read_platform_table(
        shared_path("platforms-reference", "derived_GPL571_probe2symbol_idmap2.tsv"),
        "ID", "symbol")
    expr, _ = geo.map_probes(sm.expression, symbols)
    # one probe per symbol (the most variable, first on ties), so the file has unique genes
    var = expr.var(axis=1).to_numpy()
    order = pd.DataFrame({"gene": expr.index, "var": var, "pos": np.arange(len(expr))})
    best = order.sort_values(["gene", "var", "pos"], ascending=[True, False, True])
    expr = expr.iloc[np.sort(best.drop_duplicates("gene")["pos"].to_numpy())]
    expr.index.name = "gene"
    write_tsv(expr, data / "expression.tsv.gz", index=True)
    clin = pd.read_csv(shared_path("cohorts", "GSE14520", "GSE14520_clinical_full.csv"))
    clin = clin.set_index("Affy_GSM").reindex(expr.columns)
    write_tsv(pd.DataFrame({"sample": expr.columns,
                            "os_months": clin["Survival.months"].to_numpy(),
                            "os_status": clin["Survival.status"].to_numpy()}),
              data / "clinical.tsv")


def config_text() -> str:
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["scoring"].update(methods=list(METHODS), primary="gsva")
    # Gaussian kernel as R's default in 1.46 (the key's default may become "auto")
    cfg["scoring"]["gsva"] = {"kcdf": "Gaussian", "mx_diff": True}
    cfg["scoring"]["ssgsea"] = {"alpha": 0.25, "normalize": True}
    cfg["cohorts"] = {COHORT: {
        "source": "local", "description": "GSE14520 GPL571 arrays (real, 43 samples)",
        "platform": "GPL571", "expression": "data/expression.tsv.gz",
        "clinical_table": "data/clinical.tsv", "expression_scale": "log2",
        "clinical": {"sample_id": "sample",
                     "os_time": {"column": "os_months", "unit": "months"},
                     "os_event": {"column": "os_status", "event_values": [1],
                                  "censor_values": [0]}}}}
    return yaml.safe_dump(cfg)


@pytest.fixture(scope="module")
def workflow_vs_r(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("exact")
    (tmp / "data").mkdir()
    write_cohort(tmp / "data")
    wd = make_workdir(tmp, config_text())
    targets = [f"results/{COHORT}/scores/{m}.tsv" for m in METHODS]
    res = run_snakemake(wd, *targets)
    assert res.returncode == 0, res.stderr[-4000:]
    # R scores the prepared matrix (exactly what the workflow scored) with the scored sets
    adata = read_h5ad(wd / "results" / COHORT / "prepared.h5ad")
    expr = adata.to_df().T
    cov = pd.read_csv(wd / "results" / COHORT / "coverage.tsv", sep="\t")
    scored = set(cov.loc[cov["scored"], "set"])
    gs = REPO / "resources" / "genesets"
    sets = [s for s in read_gmt(gs / "ferroptosis.gmt", AliasTable.read(gs / "aliases.tsv"))
            if s.name in scored]
    ref = tmp / "r"
    ref.mkdir()
    write_tsv(expr.rename_axis("gene"), ref / "expr.tsv", index=True)
    (ref / "sets.txt").write_text("\n".join("\t".join([s.name, *s.genes]) for s in sets) + "\n")
    run_r(R_CODE, ref, "GSVA")
    return wd, ref, expr, sets


@pytest.mark.parametrize("method", METHODS)
def test_workflow_scores_equal_r_gsva(workflow_vs_r, method):
    wd, ref, expr, _ = workflow_vs_r
    samples = read_clinical(wd / "results" / COHORT / "clinical.tsv").index
    assert len(samples) == 43 and expr.shape[1] == 43 and expr.shape[0] > 12000
    got = read_scores(wd / "results" / COHORT / "scores" / f"{method}.tsv", samples)
    want = pd.read_csv(ref / f"{method}.tsv", sep="\t", index_col=0,
                       float_precision="round_trip").T
    assert sorted(got.columns) == sorted(want.columns) and len(want.columns) >= 4
    diff = np.abs(got.loc[want.index, want.columns].to_numpy() - want.to_numpy()).max()
    print(f"{method}: max |workflow - R GSVA 1.46| = {diff:.3g} over {want.size} scores")
    assert diff < 1e-10, f"{method}: max |workflow - R| = {diff:.3g}"


def test_float32_matrix_would_not_equal_r(workflow_vs_r):
    """Guard: the old float32 storage moves GSVA scores far beyond 1e-10 on this matrix."""
    _, ref, expr, sets = workflow_vs_r
    old = expr.astype(np.float32).astype(np.float64)
    got = score_sets(old, sets, "gsva", params={"kcdf": "Gaussian", "mx_diff": True})
    want = pd.read_csv(ref / "gsva.tsv", sep="\t", index_col=0, float_precision="round_trip").T
    diff = np.abs(got.loc[want.index, want.columns].to_numpy() - want.to_numpy()).max()
    print(f"gsva from the float32 matrix: max |diff| = {diff:.3g}")
    assert diff > 1e-8
