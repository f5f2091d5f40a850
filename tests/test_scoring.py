"""Scoring: ssGSEA against a literal transcription of R GSVA's random walk; mean z by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferroscope.errors import FerroscopeError
from ferroscope.genesets import GeneSet
from ferroscope.scoring import METHODS, check_matrix, score_sets, ssgsea, unusable_genes


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
    got = ssgsea.score(x, sets, ssgsea.SsgseaSettings(alpha=0.25))
    want = gsva_rndwalk_reference(x, sets, 0.25)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


def test_ssgsea_normalisation_divides_by_range():
    es = np.array([[1.0, -3.0], [2.0, 5.0]])
    np.testing.assert_allclose(ssgsea.normalise(es, ssgsea.SsgseaSettings()), es / 8.0)
    assert ssgsea.normalise(es, ssgsea.SsgseaSettings(normalize=False)) is es


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
    s = ssgsea.score(x, [np.arange(20)], ssgsea.SsgseaSettings(alpha=0.25))[0]
    assert s[:10].min() > s[10:].max()


def test_mean_z_hand_worked():
    # gene A: 1,2,3 -> mean 2, sd 1 -> z -1,0,1; gene B: 10,10,40 -> mean 20, sd 17.3205
    expr = pd.DataFrame([[1.0, 2.0, 3.0], [10.0, 10.0, 40.0], [5.0, 6.0, 9.0]],
                        index=["A", "B", "C"], columns=["s1", "s2", "s3"])
    out = score_sets(expr, [GeneSet("AB", ("A", "B", "MISSING"))], "mean_z")
    zb = (np.array([10, 10, 40]) - 20) / np.sqrt(300)
    np.testing.assert_allclose(out["AB"].to_numpy(), (np.array([-1, 0, 1]) + zb) / 2)


def test_registry_entries_are_declared_by_their_documented_modules():
    """Each entry is its module's METHOD (a one-method module is named after it, so
    ``scoring/<name>.py`` holds method ``name``) or one of its METHODS, with its settings class
    declared beside it and a module docstring carrying the formula."""
    import importlib

    from ferroscope.scoring import Settings

    for name, m in METHODS.items():
        module = importlib.import_module(m.func.__module__)
        assert module.__doc__.strip(), f"{name} has no module docstring"
        if hasattr(module, "METHOD"):
            assert module.METHOD is m and module.__name__.rsplit(".", 1)[1] == name
        else:
            assert m in module.METHODS
        assert m.settings is Settings or m.settings.__module__ == module.__name__, name


# ---- typed settings: an unknown, misspelt or misplaced key stops naming the valid keys -------

#: per method: a misspelt setting (or, for methods without settings, another method's key)
MISSPELT = {"gsva": "kcfd", "ssgsea": "alfa", "singscore": "centre", "gseapy_ssgsea": "thread",
            "zscore": "alpha", "plage": "kcdf", "mean_z": "center", "scanpy_score_genes": "tau"}


def _small() -> tuple[pd.DataFrame, list[GeneSet]]:
    rng = np.random.default_rng(30)
    genes = [f"G{i}" for i in range(40)]
    return (pd.DataFrame(rng.normal(size=(40, 8)), index=genes),
            [GeneSet("A", tuple(genes[:10]))])


def test_every_method_has_a_misspelling_case():
    assert sorted(MISSPELT) == sorted(METHODS)


@pytest.mark.bad_input
@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("kind", ["unknown", "misspelt", "misplaced"])
def test_bad_setting_key_stops_naming_the_valid_keys(method, kind):
    """decoupler / R GSVA 2.x style: score_sets(params=...) with a key the method does not take
    stops; the message names the key, where it belongs when it belongs elsewhere, and every
    valid key of the method."""
    key = {"unknown": "bogus", "misspelt": MISSPELT[method], "misplaced": "missing"}[kind]
    expr, sets = _small()
    with pytest.raises(FerroscopeError) as err:
        score_sets(expr, sets, method, params={key: "everything"})
    msg = str(err.value)
    assert f"unknown setting '{key}' for scoring method '{method}'" in msg
    assert err.value.field == f"scoring.{method}.{key}"
    valid = METHODS[method].settings.keys()
    assert f"valid settings of {method}: " in msg
    assert all(k in msg for k in valid) if valid else "takes no settings" in msg
    if kind == "misplaced":
        assert "scoring.missing" in msg  # where the misplaced key belongs
    if kind == "misspelt" and method in ("zscore", "plage", "mean_z", "scanpy_score_genes"):
        assert "It is a setting of " in msg  # another method's key: named as such


@pytest.mark.bad_input
@pytest.mark.parametrize(("params", "expected"), [
    ({"kcdf": "gaussian"}, "allowed: auto, none, Gaussian, Poisson"),
    ({"compat": 1.46}, "allowed: 2.0, 1.46"),
    ({"compat": "1.45"}, "allowed: 2.0, 1.46"),
    ({"mx_diff": "yes"}, "not true or false"),
    ({"tau": -1}, "below its minimum 0"),
    ({"kcdf_none_min_samples": 2.5}, "not a whole number"),
    ({"compat": "1.46", "kcdf": "none"}, "does not exist in GSVA 1.46"),
])
def test_bad_gsva_setting_value_stops_with_the_allowed_ones(params, expected):
    expr, sets = _small()
    with pytest.raises(FerroscopeError) as err:
        score_sets(expr, sets, "gsva", params=params)
    assert expected in str(err.value) and str(err.value.field).startswith("scoring.gsva.")
    assert err.value.fix


@pytest.mark.bad_input
@pytest.mark.parametrize(("method", "params"), [
    ("ssgsea", {"normalize": "no"}), ("ssgsea", {"alpha": -0.5}), ("singscore", {"center": 1}),
    ("gseapy_ssgsea", {"threads": 0})])
def test_bad_setting_value_of_the_other_methods_stops(method, params):
    expr, sets = _small()
    with pytest.raises(FerroscopeError, match=f"{next(iter(params))} .* (is not|below)"):
        score_sets(expr, sets, method, params=params)


def test_settings_given_as_the_class_or_a_mapping_are_the_same():
    from ferroscope.scoring import gsva

    expr, sets = _small()
    a = score_sets(expr, sets, "gsva", params={"kcdf": "Gaussian", "tau": 1})
    b = score_sets(expr, sets, "gsva", params=gsva.GsvaSettings(kcdf="Gaussian"))
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(FerroscopeError, match="SsgseaSettings given for method 'gsva'"):
        score_sets(expr, sets, "gsva", params=ssgsea.SsgseaSettings())


@pytest.mark.bad_input
def test_unknown_method_and_missing_policy_stop_naming_the_allowed_ones():
    expr, sets = _small()
    with pytest.raises(FerroscopeError, match="unknown scoring method 'gvsa'") as err:
        score_sets(expr, sets, "gvsa")
    assert all(m in str(err.value) for m in METHODS)
    with pytest.raises(FerroscopeError, match="'na_rm'.*'na.rm' or 'everything'"):
        score_sets(expr, sets, "zscore", missing="na_rm")
    from ferroscope.scoring import Run

    with pytest.raises(FerroscopeError, match="'NA'.*'na.rm' or 'everything'"):
        Run(missing="NA")  # a method called directly gets the same check


def test_walk_statistic_enum_follows_r_arguments():
    from ferroscope.scoring._walk import Statistic

    assert Statistic.of(mx_diff=True, abs_ranking=False) is Statistic.DIFFERENCE
    assert Statistic.of(mx_diff=True, abs_ranking=True) is Statistic.ABS_DIFFERENCE
    assert Statistic.of(mx_diff=False, abs_ranking=True) is Statistic.MAX_DEVIATION


def _scoring_imports(path) -> set[str]:
    """The ferroscope.scoring modules a source file imports (any level, any place)."""
    import ast

    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level == 1 and not mod:       # from . import gsva
                out |= {a.name for a in node.names}
            elif node.level == 1:                 # from .gsva import x
                out.add(mod.split(".")[0])
            elif mod.startswith("ferroscope.scoring."):
                out.add(mod.split(".")[2])
            elif mod == "ferroscope.scoring":
                out |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[2] for a in node.names
                    if a.name.startswith("ferroscope.scoring.")}
    return out


def test_no_method_module_imports_another():
    """Method modules share code through the private blocks only (scoring/_*.py), and the
    blocks import no method module."""
    from pathlib import Path

    import ferroscope.scoring as pkg

    root = Path(pkg.__file__).parent
    modules = {p.stem: p for p in root.glob("*.py") if p.stem != "__init__"}
    methods = {n for n in modules if not n.startswith("_")}
    assert {"gsva", "ssgsea", "zscore", "plage", "mean_z", "singscore", "peers"} <= methods
    bad = {n: sorted(_scoring_imports(p) & methods) for n, p in modules.items()
           if _scoring_imports(p) & methods}
    assert bad == {}, f"modules importing a method module: {bad}"
    # the parser sees such imports (else the test could not fail)
    assert _scoring_imports(root / "__init__.py") >= methods - {"_base"}


@pytest.mark.bad_input
def test_infinite_value_is_named():
    expr = pd.DataFrame([[1.0, np.inf], [2.0, 3.0]], index=["GPX4", "NQO1"], columns=["a", "b"])
    with pytest.raises(FerroscopeError, match="GPX4.*'b'") as err:
        check_matrix(expr, "x.h5ad")
    assert "NaN" in str(err.value)  # the fix: correct it or set it missing


def test_missing_cells_are_accepted():
    expr = pd.DataFrame([[1.0, np.nan, 2.0], [2.0, 3.0, 1.0], [4.0, 1.0, 0.0]],
                        index=["GPX4", "NQO1", "FTH1"], columns=["a", "b", "c"])
    check_matrix(expr, "x.h5ad")


@pytest.mark.bad_input
def test_sample_without_measured_values_is_named():
    expr = pd.DataFrame([[1.0, np.nan], [2.0, np.nan]], index=["GPX4", "NQO1"],
                        columns=["a", "EMPTY"])
    with pytest.raises(FerroscopeError, match="'EMPTY' has no measured value") as err:
        check_matrix(expr, "x.h5ad")
    assert "remove the sample" in str(err.value)


def test_duplicated_gene_is_named():
    expr = pd.DataFrame([[1.0, 2.0], [2.0, 3.0]], index=["GPX4", "GPX4"], columns=["a", "b"])
    with pytest.raises(FerroscopeError, match="'GPX4' appears more than once"):
        check_matrix(expr, "x.h5ad")


def test_unusable_genes_are_found_with_their_reason():
    nan = np.nan
    expr = pd.DataFrame([[1.0, 1.0, 1.0], [2.0, 3.0, nan], [4.0, nan, nan], [nan, nan, nan],
                         [5.0, nan, 5.0]], index=["FLAT", "VAR", "ONE", "NONE", "FLAT_NA"],
                        columns=["a", "b", "c"])
    assert unusable_genes(expr) == {"FLAT": "constant across samples",
                                    "ONE": "constant across samples",
                                    "NONE": "no finite value",
                                    "FLAT_NA": "constant across samples"}


def test_sample_with_all_equal_values_is_named():
    expr = pd.DataFrame([[1.0, 5.0, 2.0], [2.0, 5.0, 3.0], [4.0, 5.0, 1.0]],
                        index=["A", "B", "C"], columns=["ok1", "FLAT_SAMPLE", "ok2"])
    with pytest.raises(FerroscopeError, match="'FLAT_SAMPLE' has the same value"):
        check_matrix(expr, "x.h5ad")


def test_singscore_hand_worked():
    # 6 genes, one sample: values 10,20,30,40,50,60 -> ranks 1..6. Set {5th, 6th} (k = 2):
    # mean rank 5.5; lowest possible mean (k+1)/2 = 1.5; highest (2N-k+1)/2 = 5.5 -> 1 - 0.5.
    x = np.array([[10.0], [20.0], [30.0], [40.0], [50.0], [60.0]])
    s = METHODS["singscore"].func(x, [np.array([4, 5]), np.array([0, 1]), np.array([0, 5])])
    np.testing.assert_allclose(s[:, 0], [0.5, -0.5, 0.0])
    # ties take the minimum rank: values 1,1,1,2 -> ranks 1,1,1,4; set {gene 0}: k = 1,
    # bounds 1 and 4 -> (1 - 1)/(4 - 1) - 0.5
    t = METHODS["singscore"].func(np.array([[1.0], [1.0], [1.0], [2.0]]), [np.array([0])])
    assert t[0, 0] == pytest.approx(-0.5)


def test_singscore_is_single_sample():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 12))
    sets = [np.arange(15), np.arange(100, 160)]
    whole = METHODS["singscore"].func(x, sets)
    alone = np.hstack([METHODS["singscore"].func(x[:, [j]], sets) for j in range(12)])
    np.testing.assert_array_equal(whole, alone)


def test_singscore_equals_its_definition_on_tied_data():
    """Min-ranks looked up from each sample's sorted values equal scipy's rankdata('min')."""
    from scipy.stats import rankdata

    rng = np.random.default_rng(11)
    x = np.round(rng.normal(size=(2000, 40)) * 3) / 3  # about 40 distinct values: many ties
    sets = [rng.choice(2000, size=k, replace=False) for k in (5, 60, 300)]
    ranks = rankdata(x, axis=0, method="min")
    n = x.shape[0]
    want = np.array([(ranks[idx].mean(axis=0) - (len(idx) + 1) / 2)
                     / ((2 * n - len(idx) + 1) / 2 - (len(idx) + 1) / 2) - 0.5 for idx in sets])
    np.testing.assert_allclose(METHODS["singscore"].func(x, sets), want, rtol=0, atol=1e-12)


def test_combined_zscore_hand_worked():
    # gene A: z = -1, 0, 1; gene B: 10, 10, 40 -> z = (-10, -10, 20) / sqrt(300)
    x = np.array([[1.0, 2.0, 3.0], [10.0, 10.0, 40.0], [5.0, 6.0, 9.0]])
    out = METHODS["zscore"].func(x, [np.array([0, 1])])
    zb = np.array([-10.0, -10.0, 20.0]) / np.sqrt(300)
    np.testing.assert_allclose(out[0], (np.array([-1.0, 0.0, 1.0]) + zb) / np.sqrt(2))


def test_plage_is_oriented_with_the_set_and_unit_norm():
    rng = np.random.default_rng(8)
    latent = rng.normal(size=40)
    x = rng.normal(size=(200, 40))
    x[:12] += 2.0 * latent  # a co-expressed module
    s = METHODS["plage"].func(x, [np.arange(12)])[0]
    assert np.linalg.norm(s) == pytest.approx(1.0)
    assert np.corrcoef(s, latent)[0, 1] > 0.95
    # flipping every gene flips the score direction with them (sign follows the set mean)
    s_neg = METHODS["plage"].func(-x, [np.arange(12)])[0]
    np.testing.assert_allclose(s_neg, -s, atol=1e-12)


@pytest.mark.parametrize("method", ["gsva", "zscore", "plage"])
def test_constant_gene_is_dropped_from_its_set(method):
    """As R's .filterFeatures: a constant row is removed before scoring (set and universe)."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 15))
    with_flat = np.insert(x, 3, 7.0, axis=0)
    a = METHODS[method].func(with_flat, [np.array([0, 1, 2, 3, 4, 5])])
    b = METHODS[method].func(x, [np.array([0, 1, 2, 3, 4])])
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_gsva_detects_planted_up_regulation():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(400, 30))
    x[:25, :15] += 1.5
    s = METHODS["gsva"].func(x, [np.arange(25), np.arange(200, 225)])
    assert s[0, :15].min() > s[0, 15:].max()
    assert abs(s[1].mean()) < 0.2


def test_gsva_pair_kernel_equals_naive_r_loop():
    """The windowed, pair-once kernel equals R's row_d loop transcribed literally."""
    from ferroscope.scoring._kcdf import TABLE, gene_statistics

    rng = np.random.default_rng(6)
    x = np.vstack([rng.normal(size=(3, 40)), np.round(rng.normal(size=(2, 40)), 1),
                   np.r_[rng.normal(size=38), 50.0, -40.0][None, :]])  # ties, far outliers
    want = np.empty_like(x)
    for g, row in enumerate(x):
        bw = row.std(ddof=1) / 4.0
        for j in range(40):
            tail = 0.0
            for i in range(40):
                v = (row[j] - row[i]) / bw
                if v < -10:
                    cdf = 0.0
                elif v > 10:
                    cdf = 1.0
                else:
                    c = TABLE[int(abs(v) / 10.0 * 10000.0)]
                    cdf = 1.0 - c if v < 0 else c
                tail += cdf
            tail /= 40
            want[g, j] = -1.0 * np.log((1.0 - tail) / tail)
    np.testing.assert_allclose(gene_statistics(x), want, rtol=0, atol=1e-12)


# ---- GSVA 2.x: kcdf rule, ECDF, missing values, de-duplication --------------------------------

def test_kcdf_auto_rule():
    from ferroscope.scoring.gsva import resolve_kcdf

    rng = np.random.default_rng(0)
    assert resolve_kcdf(rng.normal(size=(5, 200)))[0] == "none"     # >= 200 samples
    assert resolve_kcdf(rng.normal(size=(5, 199)))[0] == "Gaussian"
    counts = rng.poisson(5.0, size=(5, 199)).astype(float)
    assert resolve_kcdf(counts)[0] == "Poisson"                       # whole numbers >= 0
    counts[0, 0] = np.nan                                              # missing cells ignored
    assert resolve_kcdf(counts)[0] == "Poisson"
    assert resolve_kcdf(counts, integer=False)[0] == "Gaussian"       # log-transformed cohort
    assert resolve_kcdf(-counts)[0] == "Gaussian"                     # negative: not counts
    assert resolve_kcdf(counts, min_samples=100)[0] == "none"
    assert resolve_kcdf(rng.normal(size=(5, 225)))[0] == "none"    # GSE14520-GPL3921
    kernel, reason = resolve_kcdf(rng.normal(size=(5, 370)))       # TCGA-LIHC
    assert kernel == "none" and "370 samples >= 200" in reason
    assert resolve_kcdf(rng.normal(size=(5, 370)), compat="1.46")[0] == "Gaussian"
    assert resolve_kcdf(rng.normal(size=(5, 10)), "Poisson")[0] == "Poisson"


def test_ecdf_counts_equal_the_definition_with_missing_cells():
    """count[g, j] = #{k: x_gk measured, x_gk <= x_gj}; R divides by ALL samples."""
    from ferroscope.scoring._kcdf import ecdf_counts

    rng = np.random.default_rng(3)
    x = np.round(rng.normal(size=(40, 57)), 1)
    x[rng.random(x.shape) < 0.1] = np.nan
    got = ecdf_counts(x)
    for g in range(40):
        for j in range(57):
            if np.isnan(x[g, j]):
                assert got[g, j] == -1
            else:
                assert got[g, j] == np.sum(x[g][~np.isnan(x[g])] <= x[g, j])


def test_ecdf_walk_ties_follow_row_order():
    """With the ECDF ties are everywhere; R breaks them by row order (first row first), so
    reversing the rows changes the scores: reversing them back must restore them exactly."""
    rng = np.random.default_rng(4)
    x = np.round(rng.normal(size=(300, 210)), 0)
    genes = [f"G{i}" for i in range(300)]
    expr = pd.DataFrame(x, index=genes)
    sets = [GeneSet("A", tuple(genes[:30])), GeneSet("B", tuple(genes[100:160]))]
    a = score_sets(expr, sets, "gsva")
    b = score_sets(expr.iloc[::-1], sets, "gsva")
    assert np.abs(a - b).to_numpy().max() > 1e-3
    c = score_sets(expr.iloc[::-1].iloc[::-1], sets, "gsva")
    pd.testing.assert_frame_equal(a, c)


def _holey(seed: int = 9) -> tuple[pd.DataFrame, list[GeneSet]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, 30))
    x[0, [2, 5, 9]] = np.nan          # member of set A missing in samples 2, 5, 9
    x[1, 5] = np.nan                  # a second member missing in sample 5
    x[150, [1, 3]] = np.nan           # a non-member missing
    genes = [f"G{i}" for i in range(200)]
    return (pd.DataFrame(x, index=genes, columns=[f"S{j}" for j in range(30)]),
            [GeneSet("A", tuple(genes[:6])), GeneSet("B", tuple(genes[50:70]))])


@pytest.mark.parametrize("method", ["ssgsea", "gsva", "singscore", "zscore", "plage", "mean_z"])
def test_everything_gives_na_exactly_where_a_member_is_missing(method):
    expr, sets = _holey()
    out = score_sets(expr, sets, method, missing="everything")
    want = np.zeros((30, 2), bool)
    if method == "gsva":  # kernel (30 samples < 200): R 2.x's C code makes the whole gene NA
        want[:, 0] = True
    else:
        want[[2, 5, 9], 0] = True
    np.testing.assert_array_equal(out.isna().to_numpy(), want)


@pytest.mark.parametrize("method", ["ssgsea", "gsva", "singscore", "zscore", "plage", "mean_z"])
def test_na_rm_needs_min_size_measured_members(method):
    expr, sets = _holey()
    out = score_sets(expr, sets, method, missing="na.rm", min_size=5)
    assert out.notna().to_numpy().sum() == 59 and np.isnan(out.loc["S5", "A"])
    out = score_sets(expr, sets, method, missing="na.rm", min_size=4)
    assert out.notna().to_numpy().all()


@pytest.mark.parametrize("method", ["singscore", "ssgsea"])
def test_na_rm_equals_scoring_the_sample_without_its_missing_genes(method):
    """Single-sample methods: na.rm ranks a sample's measured genes only."""
    expr, sets = _holey()
    params = {"normalize": False} if method == "ssgsea" else {}
    out = score_sets(expr, sets, method, missing="na.rm", params=params)
    for j in (2, 5, 3):
        col = expr.iloc[:, [j]].dropna()
        alone = score_sets(col, sets, method, params=params)
        np.testing.assert_allclose(out.iloc[j].to_numpy(), alone.iloc[0].to_numpy(),
                                   rtol=0, atol=1e-12)


def test_mean_z_and_zscore_na_rm_by_hand():
    expr = pd.DataFrame([[1.0, 2.0, 3.0, np.nan], [10.0, 10.0, 40.0, 20.0]],
                        index=["A", "B"], columns=["s1", "s2", "s3", "s4"])
    za = np.array([-1.0, 0.0, 1.0, np.nan])            # mean 2, sd 1 over measured samples
    zb = (np.array([10.0, 10.0, 40.0, 20.0]) - 20.0) / np.std([10, 10, 40, 20], ddof=1)
    gs = [GeneSet("AB", ("A", "B"))]
    m = score_sets(expr, gs, "mean_z", missing="na.rm")["AB"].to_numpy()
    np.testing.assert_allclose(m, [(za[0] + zb[0]) / 2, (za[1] + zb[1]) / 2,
                                   (za[2] + zb[2]) / 2, zb[3]])
    z = score_sets(expr, gs, "zscore", missing="na.rm")["AB"].to_numpy()
    np.testing.assert_allclose(z[3], zb[3] / 1.0)
    np.testing.assert_allclose(z[0], (za[0] + zb[0]) / np.sqrt(2))


@pytest.mark.parametrize("method", ["ssgsea", "gsva", "singscore", "zscore", "plage", "mean_z"])
def test_duplicated_members_count_once(method):
    rng = np.random.default_rng(12)
    genes = [f"G{i}" for i in range(120)]
    expr = pd.DataFrame(rng.normal(size=(120, 25)), index=genes)
    dup = GeneSet("S", tuple(genes[:10]) + ("G3", "G3", "ABSENT"))
    once = GeneSet("S", tuple(genes[:10]))
    pd.testing.assert_frame_equal(score_sets(expr, [dup], method),
                                  score_sets(expr, [once], method))


def test_gsva_compat_146_counts_recorded_duplicates_twice():
    rng = np.random.default_rng(13)
    genes = [f"G{i}" for i in range(120)]
    expr = pd.DataFrame(rng.normal(size=(120, 25)), index=genes)
    dup = GeneSet("S", tuple(genes[:10]), duplicates=("G3",))
    p146 = {"kcdf": "Gaussian", "compat": "1.46"}
    a = score_sets(expr, [dup], "gsva", params=p146)
    b = score_sets(expr, [GeneSet("S", tuple(genes[:10]))], "gsva", params=p146)
    assert np.abs(a - b).to_numpy().max() > 1e-3
    c = score_sets(expr, [dup], "gsva", params={"kcdf": "Gaussian"})
    pd.testing.assert_frame_equal(c, b)


@pytest.mark.bad_input
def test_compat_146_refuses_missing_cells():
    expr, sets = _holey()
    with pytest.raises(FerroscopeError, match="1.46 has no missing-value policy") as err:
        score_sets(expr, sets, "gsva", params={"compat": "1.46"})
    assert err.value.field == "scoring.gsva"


def test_record_counts_missing_cells_and_na_scores():
    from ferroscope.scoring import run_record

    expr, sets = _holey()
    info: dict = {}
    out = score_sets(expr, sets, "gsva", missing="everything", info=info)
    rec = run_record(expr, out, "gsva", cohort="c1", missing="everything", info=info, sets=sets)
    assert rec["missing_cells"] == 6 and rec["missing_member_cells"] == 4
    assert rec["na_scores"] == 30 and rec["n_scores"] == 60
    assert rec["kcdf"] == "Gaussian" and "30 samples < 200" in rec["kcdf_reason"]


# ---- the score step (workflow/scripts/score.py) -----------------------------------------------

def _run_score_step(tmp_path, x: np.ndarray, scored: bool, method: str = "gsva",
                    options: dict | None = None, uns_prepare: dict | None = None):
    """Run workflow/scripts/score.py as Snakemake would, on a small h5ad."""
    import json
    import runpy
    import sys
    from pathlib import Path
    from types import SimpleNamespace

    import anndata as ad

    repo = Path(__file__).resolve().parents[1]
    tmp_path.mkdir(parents=True, exist_ok=True)
    genes = [f"G{i}" for i in range(x.shape[0])]
    adata = ad.AnnData(x.T.copy())
    adata.var_names = genes
    adata.obs_names = [f"S{j}" for j in range(x.shape[1])]
    adata.uns["prepare"] = json.dumps(uns_prepare or {})
    adata.uns["cohort"] = "c1"
    adata.uns["provenance"] = json.dumps({"inputs": []})
    adata.write_h5ad(tmp_path / "prepared.h5ad")
    (tmp_path / "sets.gmt").write_text("A\tdesc\t" + "\t".join(genes[:8]) + "\tG2\n"
                                       "B\tdesc\t" + "\t".join(genes[20:40]) + "\n")
    (tmp_path / "aliases.tsv").write_text("alias\tsymbol\tnote\n")
    pd.DataFrame({"set": ["A", "B"], "scored": [scored, scored]}).to_csv(
        tmp_path / "coverage.tsv", sep="\t", index=False)
    out = tmp_path / "scores"
    snakemake = SimpleNamespace(
        input=SimpleNamespace(h5ad=str(tmp_path / "prepared.h5ad"),
                              coverage=str(tmp_path / "coverage.tsv"),
                              gmt=str(tmp_path / "sets.gmt"),
                              aliases=str(tmp_path / "aliases.tsv")),
        output=SimpleNamespace(scores=str(out / f"{method}.tsv"),
                               record=str(out / f"{method}.json")),
        log=[str(tmp_path / "score.log")],
        wildcards=SimpleNamespace(cohort="COHORT_X", method=method),
        params=SimpleNamespace(options=options or {}, chunk_size=1000, missing="na.rm",
                               min_size=3))
    sys.path.insert(0, str(repo / "workflow" / "scripts"))
    try:
        runpy.run_path(str(repo / "workflow" / "scripts" / "score.py"),
                       init_globals={"snakemake": snakemake}, run_name="__main__")
    finally:
        sys.path.remove(str(repo / "workflow" / "scripts"))
    return out


@pytest.mark.bad_input
@pytest.mark.parametrize("method", ["ssgsea", "gsva"])
def test_score_step_stops_clearly_when_no_set_is_scored(tmp_path, method):
    x = np.random.default_rng(1).normal(size=(60, 12))
    with pytest.raises(FerroscopeError) as err:
        _run_score_step(tmp_path, x, scored=False, method=method)
    msg = str(err.value)
    assert "no set could be scored in cohort COHORT_X" in msg
    assert "lower genesets.min_genes" in msg
    assert not (tmp_path / "scores").exists()  # nothing written


@pytest.mark.bad_input
def test_score_step_stops_on_a_misspelt_setting_and_writes_nothing(tmp_path):
    x = np.random.default_rng(1).normal(size=(60, 12))
    with pytest.raises(FerroscopeError) as err:
        _run_score_step(tmp_path, x, scored=True, options={"kcdf": "auto", "mxdiff": False})
    msg = str(err.value)
    assert "unknown setting 'mxdiff' for scoring method 'gsva'" in msg and "mx_diff" in msg
    assert not (tmp_path / "scores").exists()


def test_score_step_writes_scores_and_record(tmp_path):
    import json

    rng = np.random.default_rng(2)
    x = rng.normal(7, 1, size=(60, 12))
    x[0, 3] = np.nan
    x[50, [1, 2]] = np.nan
    out = _run_score_step(tmp_path, x, scored=True)
    scores = pd.read_csv(out / "gsva.tsv", sep="\t", index_col="sample_id")
    assert scores.shape == (12, 2) and scores.notna().all().all()
    rec = json.loads((out / "gsva.json").read_text())
    assert rec["cohort"] == "COHORT_X" and rec["missing_cells"] == 3
    assert rec["missing_member_cells"] == 1 and rec["na_scores"] == 0
    assert rec["kcdf"] == "Gaussian" and rec["missing_policy"] == "na.rm"
    assert rec["duplicates_removed"] == {"A": ["G2"]}


def test_score_step_integer_rule_uses_prepare_notes(tmp_path):
    """Whole-number data is Poisson under auto unless prepare log-transformed it."""
    import json

    x = np.random.default_rng(3).poisson(20, size=(60, 12)).astype(float)
    rec = json.loads((_run_score_step(tmp_path / "a", x, True) / "gsva.json").read_text())
    assert rec["kcdf"] == "Poisson"
    rec = json.loads((_run_score_step(tmp_path / "b", x, True,
                                      uns_prepare={"log_transformed": True})
                      / "gsva.json").read_text())
    assert rec["kcdf"] == "Gaussian"


@pytest.mark.slow
def test_demo_report_names_the_gsva_kernel_and_missing_counts(demo_run):
    """Both demo cohorts have >= 200 samples: kcdf auto gives the direct ECDF, and the report
    says so (as it will for TCGA-LIHC, ~370, and GSE14520-GPL3921, 225)."""
    import json

    rec = json.loads((demo_run / "results" / "demo" / "scores" / "gsva.json").read_text())
    assert rec["kcdf"] == "none" and "300 samples >= 200" in rec["kcdf_reason"]
    assert rec["na_scores"] == 0 and rec["missing_policy"] == "na.rm"
    html = (demo_run / "results" / "report.html").read_text()
    assert 'id="scoring-runs"' in html
    assert "auto: 300 samples &gt;= 200 (kcdf_none_min_samples)" in html
    assert "auto: 200 samples &gt;= 200 (kcdf_none_min_samples)" in html


def test_read_gmt_records_duplicates_and_coverage_lists_them(tmp_path):
    from ferroscope.genesets import coverage, read_gmt

    (tmp_path / "s.gmt").write_text("S\td\tA\tB\tA\tC\tB\tA\n")
    (gs,) = read_gmt(tmp_path / "s.gmt")
    assert gs.genes == ("A", "B", "C") and sorted(gs.duplicates) == ["A", "A", "B"]
    cov = coverage([gs], ["A", "B", "C"], min_genes=1, min_coverage=0.5)
    assert cov.loc[0, "n_genes"] == 3 and cov.loc[0, "duplicates_removed"] == "A,B,A"


@pytest.mark.parametrize("method", ["ssgsea", "gsva", "singscore"])
def test_memory_layout_does_not_change_scores(method):
    """A cohort read from h5ad arrives Fortran-ordered (genes x samples view); the threaded
    tiled re-layout must give the same scores as a C-ordered matrix."""
    from ferroscope.scoring._threads import c_order, transposed

    rng = np.random.default_rng(21)
    x = np.round(rng.normal(size=(300, 230)), 1)
    x[rng.random(x.shape) < 0.01] = np.nan
    sets = [np.arange(20), np.arange(100, 160)]
    f = np.asfortranarray(x)
    np.testing.assert_array_equal(c_order(f), x)
    np.testing.assert_array_equal(transposed(x), x.T)
    np.testing.assert_array_equal(METHODS[method].func(f, sets), METHODS[method].func(x, sets))
