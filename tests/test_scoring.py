"""Scoring: ssGSEA against a literal transcription of R GSVA's random walk; mean z by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferroscope.errors import FerroscopeError
from ferroscope.genesets import GeneSet
from ferroscope.scoring import METHODS, check_matrix, constant_genes, score_sets, ssgsea


def gsva_rndwalk_reference(x: np.ndarray, sets: list[np.ndarray], alpha: float) -> np.ndarray:
    """Line-by-line port of GSVA 1.46 ``.ssgsea``/``.rndWalk`` (R), walk materialised."""
    from scipy.stats import rankdata

    n_genes, n = x.shape
    out = np.empty((len(sets), n))
    for j in range(n):
        r = np.floor(rankdata(x[:, j], method="average"))         # as.integer(rank(x))
        gene_ranking = np.argsort(-r, kind="stable")               # order(R, decreasing=TRUE)
        for i, idx in enumerate(sets):
            inside = np.isin(gene_ranking, idx).astype(float)
            step_in = np.cumsum(np.abs(r[gene_ranking]) ** alpha * inside)
            step_in /= step_in[-1]
            step_out = np.cumsum(1 - inside) / np.sum(1 - inside)
            out[i, j] = np.sum(step_in - step_out)
    return out


@pytest.mark.parametrize("ties", [False, True])
def test_ssgsea_equals_gsva_random_walk(ties):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 12))
    if ties:
        x = np.round(x, 1)  # many tied values within samples
    sets = [rng.choice(300, size=k, replace=False) for k in (5, 17, 60)]
    got = ssgsea.score(x, sets, alpha=0.25)
    want = gsva_rndwalk_reference(x, sets, 0.25)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


def test_ssgsea_normalisation_divides_by_range():
    es = np.array([[1.0, -3.0], [2.0, 5.0]])
    np.testing.assert_allclose(ssgsea.normalise(es, {"normalize": True}), es / 8.0)
    assert ssgsea.normalise(es, {"normalize": False}) is es


def test_chunking_does_not_change_scores():
    rng = np.random.default_rng(2)
    expr = pd.DataFrame(rng.normal(size=(200, 37)), index=[f"G{i}" for i in range(200)],
                        columns=[f"S{j}" for j in range(37)])
    sets = [GeneSet("A", tuple(f"G{i}" for i in range(10))),
            GeneSet("B", tuple(f"G{i}" for i in range(50, 90)))]
    whole = score_sets(expr, sets, "ssgsea", chunk_size=1000)
    chunked = score_sets(expr, sets, "ssgsea", chunk_size=5)
    pd.testing.assert_frame_equal(whole, chunked)


def test_ssgsea_detects_planted_up_regulation():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 20))
    x[:20, :10] += 2.0  # set genes up in the first 10 samples
    s = ssgsea.score(x, [np.arange(20)], alpha=0.25)[0]
    assert s[:10].min() > s[10:].max()


def test_mean_z_hand_worked():
    # gene A: 1,2,3 -> mean 2, sd 1 -> z -1,0,1; gene B: 10,10,40 -> mean 20, sd 17.3205
    expr = pd.DataFrame([[1.0, 2.0, 3.0], [10.0, 10.0, 40.0], [5.0, 6.0, 9.0]],
                        index=["A", "B", "C"], columns=["s1", "s2", "s3"])
    out = score_sets(expr, [GeneSet("AB", ("A", "B", "MISSING"))], "mean_z")
    zb = (np.array([10, 10, 40]) - 20) / np.sqrt(300)
    np.testing.assert_allclose(out["AB"].to_numpy(), (np.array([-1, 0, 1]) + zb) / 2)


def test_registry_entries_are_documented():
    for name, m in METHODS.items():
        assert m.name == name
        doc = m.func.__module__
        assert __import__(doc, fromlist=["_"]).__doc__.strip(), f"{name} has no module docstring"


def test_non_finite_value_is_named():
    expr = pd.DataFrame([[1.0, np.nan], [2.0, 3.0]], index=["GPX4", "NQO1"], columns=["a", "b"])
    with pytest.raises(FerroscopeError, match="GPX4.*'b'"):
        check_matrix(expr, "x.h5ad")


def test_duplicated_gene_is_named():
    expr = pd.DataFrame([[1.0, 2.0], [2.0, 3.0]], index=["GPX4", "GPX4"], columns=["a", "b"])
    with pytest.raises(FerroscopeError, match="'GPX4' appears more than once"):
        check_matrix(expr, "x.h5ad")


def test_constant_genes_are_found():
    expr = pd.DataFrame([[1.0, 1.0], [2.0, 3.0]], index=["FLAT", "VAR"], columns=["a", "b"])
    assert constant_genes(expr) == ["FLAT"]
