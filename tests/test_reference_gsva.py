"""ssGSEA against R GSVA 1.46 (Debian r-bioc-gsva), run by the test on a generated matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferroscope.genesets import GeneSet
from ferroscope.scoring import score_sets

from .rref import run_r

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
