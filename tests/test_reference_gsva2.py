"""GSVA and ssGSEA against R GSVA 2.x (the 2.0 sources in ../shared, compiled at test time by
tests/gsva2ref.py; see tests/gsva2_ref.R). All cases run in one R process per module.

R 2.0's C code has two known missing-value bugs that the cases avoid rather than copy:
row_d_naprop/row_d_narm read one value past a gene's row (the next gene's first sample), so no
missing cell is put in the first sample; and with maxDiff = FALSE R picks the wrong rows when
some scores are NA, so the missing-value cases use maxDiff = TRUE (the default).

R's outputs are frozen in tests/golden/r2x_*.tsv (rewritten by the live test with
``FERROSCOPE_REGEN_GOLDEN=1``, see tests/rgolden.py); the golden test below runs in the fast
lane without R or ../shared and checks the same cases with the same tolerance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferroscope.genesets import GeneSet
from ferroscope.scoring import score_sets

from . import gsva2ref, rgolden
from .gsva2ref import Case, max_diff

TOL = 1e-10


def _frame(x: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(x, index=[f"G{i}" for i in range(x.shape[0])],
                        columns=[f"S{j}" for j in range(x.shape[1])])


def _sets(genes: list[str]) -> list[GeneSet]:
    return [GeneSet("small", tuple(genes[:6])),
            GeneSet("mid", tuple(genes[40:90])),
            GeneSet("large", tuple(genes[1::3])),
            # a duplicated gene (R 2.x counts it once) and a gene absent from the matrix
            GeneSet("dup_absent", (*genes[200:215], genes[203], genes[207], "NOT_MEASURED"))]


def _continuous(rng: np.random.Generator, n_genes: int, n: int, ties: bool = False):
    base = rng.normal(7, 1.5, size=(n_genes, 1))
    x = base + rng.normal(0, 1, size=(n_genes, n))
    if ties:
        x[::4] = np.round(x[::4], 0)  # a quarter of the genes heavily tied across samples
        x[9] = np.round(x[9] * 2) / 2
    return x


def _with_missing(x: np.ndarray, rng: np.random.Generator, frac: float = 0.03) -> np.ndarray:
    x = x.copy()
    holes = rng.random(x.shape) < frac
    holes[:, 0] = False          # see the module docstring (R reads past a row's end)
    holes[:3, 1::2] = True       # "small" loses half its members in every other sample
    holes[3:6] = False
    x[holes] = np.nan
    return x


def _cases() -> list[tuple[Case, dict]]:
    """(R case, ferroscope call) pairs."""
    out = []
    rng = np.random.default_rng(2024)
    # 1. harness check: Gaussian forced, GSVA 2.x vs Debian's GSVA 1.46
    x = _frame(_continuous(rng, 400, 30, ties=True))
    sets = _sets(list(x.index))[:3]
    out.append((Case("check_2x", x, sets, "gsva2", 'kcdf = "Gaussian"'), {}))
    out.append((Case("check_146", x, sets, "gsva146", 'kcdf = "Gaussian", min.sz = 1'), {}))
    # 2. auto at >= 200 samples: the direct ECDF, continuous and heavily tied data
    for name, ties in (("auto_ecdf", False), ("auto_ecdf_tied", True)):
        x = _frame(_continuous(rng, 500, 220, ties=ties))
        out.append((Case(name, x, _sets(list(x.index)), "gsva2", 'kcdf = "auto"'),
                    {"params": {"kcdf": "auto"}}))
    x = _frame(np.round(_continuous(rng, 400, 60), 1))
    out.append((Case("none_forced", x, _sets(list(x.index)), "gsva2", 'kcdf = "none"'),
                {"params": {"kcdf": "none"}}))
    # 3. auto below 200 samples: Gaussian (non-integer data), Poisson (integer data)
    x = _frame(_continuous(rng, 400, 40))
    out.append((Case("auto_gaussian", x, _sets(list(x.index)), "gsva2", 'kcdf = "auto"'),
                {"params": {"kcdf": "auto"}}))
    mu = rng.gamma(2.0, 15.0, size=(400, 1))
    x = _frame(rng.poisson(mu, size=(400, 30)).astype(float))
    out.append((Case("auto_poisson", x, _sets(list(x.index)), "gsva2", 'kcdf = "auto"',
                     integer=True), {"params": {"kcdf": "auto"}}))
    out.append((Case("poisson_maxdev", x, _sets(list(x.index)), "gsva2",
                     'kcdf = "auto", maxDiff = FALSE', integer=True),
                {"params": {"kcdf": "auto", "mx_diff": False}}))
    # 4. missing cells, both policies, ECDF (220 samples) and Gaussian kernel (40)
    for kern, n in (("ecdf", 220), ("gauss", 40)):
        x = _frame(_with_missing(_continuous(rng, 400, n, ties=True), rng))
        for use in ("na.rm", "everything"):
            name = f"{kern}_{use.replace('.', '')}"
            out.append((Case(name, x, _sets(list(x.index)), "gsva2",
                             f'kcdf = "auto", na_use = "{use}", minSize = 4'),
                        {"params": {"kcdf": "auto"}, "missing": use, "min_size": 4}))
    # 5. ssGSEA 2.x with missing cells
    x = _frame(_with_missing(np.round(_continuous(rng, 400, 25), 1), rng))
    for use in ("na.rm", "everything"):
        out.append((Case(f"ssgsea_{use.replace('.', '')}", x, _sets(list(x.index))[:3],
                         "ssgsea2", f'na_use = "{use}", minSize = 4'),
                    {"method": "ssgsea", "params": {"alpha": 0.25, "normalize": True},
                     "missing": use, "min_size": 4}))
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("gsva2")
    lib = gsva2ref.build(root / "build")
    pairs = _cases()
    return pairs, gsva2ref.run([c for c, _ in pairs], root / "cases", lib)


@pytest.mark.shared
def test_harness_equals_gsva_146_with_gaussian_kernel(reference):
    _, r = reference
    d = max_diff(r["check_2x"], r["check_146"])
    print(f"harness check (Gaussian, 2.x vs 1.46): max |diff| = {d:.2e}")
    assert d < 1e-12


CASES = ["auto_ecdf", "auto_ecdf_tied", "none_forced", "auto_gaussian", "auto_poisson",
         "poisson_maxdev", "ecdf_narm", "ecdf_everything", "gauss_narm", "gauss_everything",
         "ssgsea_narm", "ssgsea_everything"]


def _check(case: Case, call: dict, want: pd.DataFrame) -> float:
    call = dict(call)
    got = score_sets(case.expr, case.sets, call.pop("method", "gsva"), **call)
    d = max_diff(got, want)
    assert d < TOL, f"{case.name}: max |ferroscope - R 2.x| = {d:.2e}"
    if case.name.endswith(("narm", "everything")):
        assert want.isna().to_numpy().any(), "the case should produce NA scores"
    return d


@pytest.mark.shared
@pytest.mark.parametrize("name", CASES)
def test_ferroscope_equals_gsva_2x(reference, name):
    pairs, r = reference
    case, call = next((c, k) for c, k in pairs if c.name == name)
    want = r[name]
    if rgolden.REGEN:
        rgolden.write(f"r2x_{name}", want, f"R GSVA 2.0 (c0c20e4) {case.fun}({case.args})",
                      rgolden.digest(case.expr, case.raw_sets or case.sets))
    d = _check(case, call, want)
    print(f"{name}: max |ferroscope - R 2.x| = {d:.2e}, NA scores {int(want.isna().sum().sum())}")


def test_ferroscope_equals_frozen_gsva_2x():
    """Every case against R 2.x's frozen scores (no R, no ../shared needed)."""
    pairs = {c.name: (c, k) for c, k in _cases()}
    for name in CASES:
        case, call = pairs[name]
        _check(case, call, rgolden.read(f"r2x_{name}",
                                        rgolden.digest(case.expr, case.raw_sets or case.sets)))
