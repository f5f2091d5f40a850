"""ssGSEA, GSVA (``scoring.gsva.compat: "1.46"``), z-score and PLAGE against R GSVA 1.46 (Debian
r-bioc-gsva), run by the test on generated matrices. GSVA 2.x: tests/test_reference_gsva2.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferroscope.genesets import GeneSet
from ferroscope.scoring import score_sets

from .rref import run_r

# R loads GSVA in ~10 s of CPU per run: outside `make test-fast`, inside `make test`.
pytestmark = pytest.mark.slow

R_SSGSEA = """
suppressMessages(library(GSVA))
x <- as.matrix(read.delim("expr.tsv", row.names = 1, check.names = FALSE))
gs <- lapply(strsplit(readLines("sets.txt"), "\\t"), function(v) v[-1])
names(gs) <- sapply(strsplit(readLines("sets.txt"), "\\t"), `[`, 1)
for (norm in c(TRUE, FALSE)) {
  es <- suppressWarnings(gsva(x, gs, method = "ssgsea", ssgsea.norm = norm, min.sz = 1,
                              verbose = FALSE))
  write.table(es, sprintf("es_%s.tsv", norm), sep = "\\t", quote = FALSE)
}
"""


@pytest.mark.parametrize("ties", [False, True], ids=["continuous", "tied"])
def test_ssgsea_matches_r_gsva(tmp_path, ties):
    rng = np.random.default_rng(11)
    genes = [f"G{i}" for i in range(400)]
    x = rng.normal(7, 2, size=(400, 25))
    if ties:
        x = np.round(x, 0)          # heavy ties within every sample
        x[5] = 3.0                  # and a constant gene (R keeps it for ssgsea)
    expr = pd.DataFrame(x, index=genes, columns=[f"S{j}" for j in range(25)])
    sets = [GeneSet("small", tuple(genes[:6])),
            GeneSet("mid", tuple(genes[100:150]) + ("NOT_MEASURED",)),
            GeneSet("large", tuple(genes[::3]))]
    expr.to_csv(tmp_path / "expr.tsv", sep="\t")
    (tmp_path / "sets.txt").write_text(
        "\n".join("\t".join([s.name, *s.genes]) for s in sets) + "\n")
    run_r(R_SSGSEA, tmp_path, "GSVA")
    for norm in (True, False):
        want = pd.read_csv(tmp_path / f"es_{str(norm).upper()}.tsv", sep="\t", index_col=0).T
        got = score_sets(expr, sets, "ssgsea", params={"alpha": 0.25, "normalize": norm})
        np.testing.assert_allclose(got[want.columns].to_numpy(), want.to_numpy(), rtol=0,
                                   atol=1e-8)


R_METHODS = """
suppressMessages(library(GSVA))
for (kind in readLines("kinds.txt")) {
  x <- as.matrix(read.delim(file.path(kind, "expr.tsv"), row.names = 1, check.names = FALSE))
  l <- strsplit(readLines(file.path(kind, "sets.txt")), "\\t")
  gs <- lapply(l, function(v) v[-1]); names(gs) <- sapply(l, `[`, 1)
  kcdf <- if (kind == "counts") "Poisson" else "Gaussian"
  run <- function(name, ...) {
    es <- suppressWarnings(gsva(x, gs, min.sz = 1, verbose = FALSE, ...))
    write.table(es, file.path(kind, name), sep = "\\t", quote = FALSE)
  }
  run("gsva_maxdiff.tsv", method = "gsva", kcdf = kcdf, mx.diff = TRUE)
  run("gsva_maxdev.tsv", method = "gsva", kcdf = kcdf, mx.diff = FALSE)
  run("gsva_absrank.tsv", method = "gsva", kcdf = kcdf, mx.diff = TRUE, abs.ranking = TRUE)
  if (kcdf == "Gaussian") {
    run("zscore.tsv", method = "zscore")
    run("plage.tsv", method = "plage")
  }
}
"""
KINDS = ["continuous", "tied", "counts"]


def _matrix(kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "counts":
        mu = rng.gamma(2.0, 15.0, size=(300, 1))
        return rng.poisson(mu, size=(300, 30)).astype(float)
    x = rng.normal(7, 2, size=(300, 30))
    if kind == "tied":
        x = np.round(x, 0)
        x[7] = 4.0  # a constant gene: R drops it for gsva/zscore/plage, so must we
    return x


@pytest.fixture(scope="module")
def r_scores(tmp_path_factory):
    """Three matrices (continuous, tied with a constant gene, counts) scored by R in one run."""
    root = tmp_path_factory.mktemp("gsva_ref")
    cases = {}
    for seed, kind in enumerate(KINDS, start=21):
        x = _matrix(kind, np.random.default_rng(seed))
        genes = [f"G{i}" for i in range(x.shape[0])]
        expr = pd.DataFrame(x, index=genes, columns=[f"S{j}" for j in range(x.shape[1])])
        sets = [GeneSet("small", tuple(genes[:6])), GeneSet("mid", tuple(genes[40:90])),
                GeneSet("large", tuple(genes[1::3]))]
        (root / kind).mkdir()
        expr.to_csv(root / kind / "expr.tsv", sep="\t")
        (root / kind / "sets.txt").write_text(
            "\n".join("\t".join([s.name, *s.genes]) for s in sets) + "\n")
        cases[kind] = (expr, sets)
    (root / "kinds.txt").write_text("\n".join(KINDS) + "\n")
    run_r(R_METHODS, root, "GSVA")
    return root, cases


@pytest.mark.parametrize("kind", KINDS)
def test_gsva_zscore_plage_match_r(r_scores, kind):
    root, cases = r_scores
    expr, sets = cases[kind]
    kcdf = "Poisson" if kind == "counts" else "Gaussian"

    def want(name):
        return pd.read_csv(root / kind / name, sep="\t", index_col=0).T

    for name, opts in (("gsva_maxdiff", {"mx_diff": True}), ("gsva_maxdev", {"mx_diff": False}),
                       ("gsva_absrank", {"mx_diff": True, "abs_ranking": True})):
        w = want(f"{name}.tsv")
        got = score_sets(expr, sets, "gsva", params={"kcdf": kcdf, "compat": "1.46", **opts})
        diff = np.abs(got[w.columns].to_numpy() - w.to_numpy()).max()
        # the acceptance bound is 1e-6; the arithmetic is R's, so agreement is far closer
        assert diff < 1e-10, f"{name}: max |ferroscope - R| = {diff:.3g}"
    if kcdf == "Gaussian":
        w = want("zscore.tsv")
        got = score_sets(expr, sets, "zscore")
        np.testing.assert_allclose(got[w.columns].to_numpy(), w.to_numpy(), rtol=0, atol=1e-10)
        w = want("plage.tsv")
        got = score_sets(expr, sets, "plage")[w.columns].to_numpy()
        sign = np.sign((got * w.to_numpy()).sum(axis=0))  # singular vectors: sign is arbitrary
        np.testing.assert_allclose(got * sign, w.to_numpy(), rtol=0, atol=1e-10)


R_DUP = """
suppressMessages(library(GSVA))
x <- as.matrix(read.delim("expr.tsv", row.names = 1, check.names = FALSE))
gs <- list(dup = c(readLines("dup.txt")))
es <- suppressWarnings(gsva(x, gs, method = "gsva", kcdf = "Gaussian", min.sz = 1,
                            verbose = FALSE))
write.table(es, "es.tsv", sep = "\\t", quote = FALSE)
"""


def test_gsva_compat_146_counts_duplicated_members_twice_as_r(tmp_path):
    """R GSVA 1.46 counts a gene listed twice in a set twice; compat "1.46" does the same
    from the duplicates recorded on the GeneSet (the default, R 2.x, counts it once)."""
    rng = np.random.default_rng(31)
    genes = [f"G{i}" for i in range(300)]
    expr = pd.DataFrame(rng.normal(7, 2, size=(300, 20)), index=genes,
                        columns=[f"S{j}" for j in range(20)])
    members = genes[10:30] + ["G12", "G25"]
    expr.to_csv(tmp_path / "expr.tsv", sep="\t")
    (tmp_path / "dup.txt").write_text("\n".join(members) + "\n")
    run_r(R_DUP, tmp_path, "GSVA")
    want = pd.read_csv(tmp_path / "es.tsv", sep="\t", index_col=0).T
    gs = GeneSet("dup", tuple(genes[10:30]), duplicates=("G12", "G25"))
    got = score_sets(expr, [gs], "gsva", params={"kcdf": "Gaussian", "compat": "1.46"})
    diff = np.abs(got[want.columns].to_numpy() - want.to_numpy()).max()
    assert diff < 1e-10, f"max |ferroscope - R 1.46| = {diff:.3g}"
    once = score_sets(expr, [gs], "gsva", params={"kcdf": "Gaussian"})
    assert np.abs(once[want.columns].to_numpy() - want.to_numpy()).max() > 1e-3
