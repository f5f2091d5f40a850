"""ssGSEA, GSVA (``scoring.gsva.compat: "1.46"``), z-score and PLAGE against R GSVA 1.46 (Debian
r-bioc-gsva), run by the test on generated matrices. GSVA 2.x: tests/test_reference_gsva2.py.

The live-R tests are ``slow``; R's outputs are frozen in tests/golden/r146_*.tsv (rewritten by
the live tests with ``FERROSCOPE_REGEN_GOLDEN=1``, see tests/rgolden.py) and the ``golden``
tests below, in the fast lane, check ferroscope against them with the same tolerances.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferroscope.genesets import GeneSet
from ferroscope.scoring import score_sets

from . import rgolden
from .rref import run_r

# R loads GSVA in ~10 s of CPU per run: the live tests are outside `make test-fast` (slow), the
# golden ones inside.
SOURCE = "R GSVA 1.46 (Debian r-bioc-gsva)"

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


def _ssgsea_inputs(ties: bool) -> tuple[pd.DataFrame, list[GeneSet]]:
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
    return expr, sets


def _check_ssgsea(expr, sets, norm: bool, want: pd.DataFrame) -> None:
    got = score_sets(expr, sets, "ssgsea", params={"alpha": 0.25, "normalize": norm})
    np.testing.assert_allclose(got[want.columns].to_numpy(), want.to_numpy(), rtol=0, atol=1e-8)


@pytest.mark.slow
@pytest.mark.parametrize("ties", [False, True], ids=["continuous", "tied"])
def test_ssgsea_matches_r_gsva(tmp_path, ties):
    expr, sets = _ssgsea_inputs(ties)
    expr.to_csv(tmp_path / "expr.tsv", sep="\t")
    (tmp_path / "sets.txt").write_text(
        "\n".join("\t".join([s.name, *s.genes]) for s in sets) + "\n")
    run_r(R_SSGSEA, tmp_path, "GSVA")
    for norm in (True, False):
        want = pd.read_csv(tmp_path / f"es_{str(norm).upper()}.tsv", sep="\t", index_col=0).T
        if rgolden.REGEN:
            rgolden.write(f"r146_ssgsea_{'tied' if ties else 'continuous'}_norm{norm}", want,
                          f"{SOURCE} gsva(method = 'ssgsea', ssgsea.norm = {norm})",
                          rgolden.digest(expr, sets))
        _check_ssgsea(expr, sets, norm, want)


@pytest.mark.parametrize("ties", [False, True], ids=["continuous", "tied"])
@pytest.mark.parametrize("norm", [True, False])
def test_ssgsea_matches_frozen_r_gsva(ties, norm):
    expr, sets = _ssgsea_inputs(ties)
    want = rgolden.read(f"r146_ssgsea_{'tied' if ties else 'continuous'}_norm{norm}",
                        rgolden.digest(expr, sets))
    _check_ssgsea(expr, sets, norm, want)


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


def _methods_inputs(kind: str) -> tuple[pd.DataFrame, list[GeneSet]]:
    x = _matrix(kind, np.random.default_rng(21 + KINDS.index(kind)))
    genes = [f"G{i}" for i in range(x.shape[0])]
    expr = pd.DataFrame(x, index=genes, columns=[f"S{j}" for j in range(x.shape[1])])
    sets = [GeneSet("small", tuple(genes[:6])), GeneSet("mid", tuple(genes[40:90])),
            GeneSet("large", tuple(genes[1::3]))]
    return expr, sets


#: (R output name, ferroscope GSVA settings) of the 1.46 GSVA cases
GSVA_CASES = (("gsva_maxdiff", {"mx_diff": True}), ("gsva_maxdev", {"mx_diff": False}),
              ("gsva_absrank", {"mx_diff": True, "abs_ranking": True}))


def _outputs(kind: str) -> list[str]:
    return [n for n, _ in GSVA_CASES] + ([] if kind == "counts" else ["zscore", "plage"])


@pytest.fixture(scope="module")
def r_scores(tmp_path_factory):
    """Three matrices (continuous, tied with a constant gene, counts) scored by R in one run."""
    root = tmp_path_factory.mktemp("gsva_ref")
    cases = {}
    for kind in KINDS:
        expr, sets = _methods_inputs(kind)
        (root / kind).mkdir()
        expr.to_csv(root / kind / "expr.tsv", sep="\t")
        (root / kind / "sets.txt").write_text(
            "\n".join("\t".join([s.name, *s.genes]) for s in sets) + "\n")
        cases[kind] = (expr, sets)
    (root / "kinds.txt").write_text("\n".join(KINDS) + "\n")
    run_r(R_METHODS, root, "GSVA")
    return root, cases


def _check_methods(kind: str, expr, sets, want) -> None:
    """ferroscope against R's outputs of one matrix (``want(name)``: samples x sets)."""
    kcdf = "Poisson" if kind == "counts" else "Gaussian"
    for name, opts in GSVA_CASES:
        w = want(name)
        got = score_sets(expr, sets, "gsva", params={"kcdf": kcdf, "compat": "1.46", **opts})
        diff = np.abs(got[w.columns].to_numpy() - w.to_numpy()).max()
        # the acceptance bound is 1e-6; the arithmetic is R's, so agreement is far closer
        assert diff < 1e-10, f"{name}: max |ferroscope - R| = {diff:.3g}"
    if kcdf == "Gaussian":
        w = want("zscore")
        got = score_sets(expr, sets, "zscore")
        np.testing.assert_allclose(got[w.columns].to_numpy(), w.to_numpy(), rtol=0, atol=1e-10)
        w = want("plage")
        got = score_sets(expr, sets, "plage")[w.columns].to_numpy()
        sign = np.sign((got * w.to_numpy()).sum(axis=0))  # singular vectors: sign is arbitrary
        np.testing.assert_allclose(got * sign, w.to_numpy(), rtol=0, atol=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_gsva_zscore_plage_match_r(r_scores, kind):
    root, cases = r_scores
    expr, sets = cases[kind]
    key = rgolden.digest(expr, sets)

    def want(name):
        out = pd.read_csv(root / kind / f"{name}.tsv", sep="\t", index_col=0).T
        if rgolden.REGEN:
            rgolden.write(f"r146_{kind}_{name}", out, f"{SOURCE} {name}", key)
        return out

    for name in _outputs(kind):
        want(name)
    _check_methods(kind, expr, sets, want)


@pytest.mark.parametrize("kind", KINDS)
def test_gsva_zscore_plage_match_frozen_r(kind):
    expr, sets = _methods_inputs(kind)
    key = rgolden.digest(expr, sets)
    _check_methods(kind, expr, sets, lambda name: rgolden.read(f"r146_{kind}_{name}", key))


R_DUP = """
suppressMessages(library(GSVA))
x <- as.matrix(read.delim("expr.tsv", row.names = 1, check.names = FALSE))
gs <- list(dup = c(readLines("dup.txt")))
es <- suppressWarnings(gsva(x, gs, method = "gsva", kcdf = "Gaussian", min.sz = 1,
                            verbose = FALSE))
write.table(es, "es.tsv", sep = "\\t", quote = FALSE)
"""


def _dup_inputs() -> tuple[pd.DataFrame, GeneSet, list[str]]:
    rng = np.random.default_rng(31)
    genes = [f"G{i}" for i in range(300)]
    expr = pd.DataFrame(rng.normal(7, 2, size=(300, 20)), index=genes,
                        columns=[f"S{j}" for j in range(20)])
    members = genes[10:30] + ["G12", "G25"]
    return expr, GeneSet("dup", tuple(genes[10:30]), duplicates=("G12", "G25")), members


def _check_dup(expr, gs, want) -> None:
    got = score_sets(expr, [gs], "gsva", params={"kcdf": "Gaussian", "compat": "1.46"})
    diff = np.abs(got[want.columns].to_numpy() - want.to_numpy()).max()
    assert diff < 1e-10, f"max |ferroscope - R 1.46| = {diff:.3g}"
    once = score_sets(expr, [gs], "gsva", params={"kcdf": "Gaussian"})
    assert np.abs(once[want.columns].to_numpy() - want.to_numpy()).max() > 1e-3


@pytest.mark.slow
def test_gsva_compat_146_counts_duplicated_members_twice_as_r(tmp_path):
    """R GSVA 1.46 counts a gene listed twice in a set twice; compat "1.46" does the same
    from the duplicates recorded on the GeneSet (the default, R 2.x, counts it once)."""
    expr, gs, members = _dup_inputs()
    expr.to_csv(tmp_path / "expr.tsv", sep="\t")
    (tmp_path / "dup.txt").write_text("\n".join(members) + "\n")
    run_r(R_DUP, tmp_path, "GSVA")
    want = pd.read_csv(tmp_path / "es.tsv", sep="\t", index_col=0).T
    if rgolden.REGEN:
        rgolden.write("r146_duplicates", want, f"{SOURCE} gsva(kcdf = 'Gaussian'), a member "
                      "listed twice", rgolden.digest(expr, [gs]))
    _check_dup(expr, gs, want)


def test_gsva_compat_146_duplicates_match_frozen_r():
    expr, gs, _ = _dup_inputs()
    _check_dup(expr, gs, rgolden.read("r146_duplicates", rgolden.digest(expr, [gs])))
