"""Curated gene sets: evidence traceable to the seeds, HGNC symbols, GMT in sync, coverage rules."""

from __future__ import annotations

import re

import pytest

from ferroscope.errors import FerroscopeError
from ferroscope.genesets import (
    AliasTable,
    GeneSet,
    coverage,
    gmt_from_table,
    read_genes_table,
    read_gmt,
    resolve_members,
    resolve_sets,
)

from .conftest import REPO, shared_path

GENESETS = REPO / "resources" / "genesets"


@pytest.fixture(scope="module")
def table():
    return read_genes_table(GENESETS / "genes.tsv")


@pytest.fixture(scope="module")
def aliases():
    return AliasTable.read(GENESETS / "aliases.tsv")


def test_gmt_is_generated_from_the_curation_table(table):
    assert read_gmt(GENESETS / "ferroptosis.gmt") == gmt_from_table(table)


def test_every_evidence_quote_is_verbatim_in_its_seed_document(table):
    seeds = shared_path("seeds")
    norm = {}
    for row in table.itertuples():
        if row.source not in norm:
            norm[row.source] = re.sub(r"\s+", " ", (seeds / row.source).read_text())
        quote = re.sub(r"\s+", " ", row.evidence).strip()
        assert quote in norm[row.source], f"{row.symbol}/{row.set}: quote not in {row.source}"


def test_symbols_are_approved_not_aliases(table, aliases):
    for sym in table["symbol"]:
        assert aliases(sym) == sym, f"{sym} is an alias of {aliases(sym)}"


@pytest.mark.parametrize("alias,symbol", [
    ("FSP1", "AIFM2"), ("NRF2", "NFE2L2"), ("xCT", "SLC7A11"), ("HO-1", "HMOX1"),
    ("ferroportin", "SLC40A1"), ("TFR1", "TFRC"), ("DMT1", "SLC11A2"), ("CaN", "PPP3CA"),
    ("Nrf2", "NFE2L2"), ("GPX4", "GPX4"),
])
def test_alias_table(aliases, alias, symbol):
    assert aliases(alias) == symbol


def test_required_genes_are_curated(table):
    sets = {s: set(g["symbol"]) for s, g in table.groupby("set")}
    assert {"SLC7A11", "SLC3A2", "GPX4", "GCLC", "GCLM", "GSS", "GSR"} <= \
        sets["FERROPTOSIS_DEFENCE_GSH"]
    assert {"AIFM2", "DHODH", "GCH1"} <= sets["FERROPTOSIS_DEFENCE_GSH_INDEPENDENT"]
    assert {"GPX4", "SLC7A11", "HMOX1", "NQO1", "GSR", "FTH1", "FTL", "SLC40A1", "GCLC",
            "GCLM"} <= sets["NRF2_TARGETS"]
    assert {"KDELR3", "STIM1", "PPP3CA", "YAP1", "WWTR1", "C8orf76", "DAZAP1", "FASN",
            "HIF1A"} <= sets["SORAFENIB_RESISTANCE"]
    assert {"FZD10", "TM4SF1", "NOVA2", "CBX1", "EGFR", "SPP1", "KLHL7", "NFE2L2", "NUPR1",
            "LAPTM5", "BNIP3", "NAT10", "SREBF2"} <= sets["LENVATINIB_RESISTANCE"]
    assert {"ACSL4", "LPCAT3", "ALOX5", "ALOX12", "ALOX15", "TFRC", "NCOA4", "SAT1",
            "GLS2"} <= sets["FERROPTOSIS_DRIVERS"]


def test_read_gmt_applies_aliases(tmp_path, aliases):
    p = tmp_path / "x.gmt"
    p.write_text("S1\tdesc\tFSP1\tNRF2\tGPX4\tFSP1\n")
    (gs,) = read_gmt(p, aliases)
    assert gs.genes == ("AIFM2", "NFE2L2", "GPX4")


@pytest.mark.parametrize("content,needle", [
    ("S1 desc GPX4\n", "tab-separated fields"),
    ("S1\td\tA\nS1\td\tB\n", "appears twice"),
    ("\n# only a comment\n", "no gene sets"),
    ("S1\td\t \t\n", "has no genes"),
])
@pytest.mark.bad_input
def test_bad_gmt_is_named(tmp_path, content, needle):
    p = tmp_path / "bad.gmt"
    p.write_text(content)
    with pytest.raises(FerroscopeError, match=needle) as exc:
        read_gmt(p)
    assert str(p) in str(exc.value) and "Fix:" in str(exc.value)


@pytest.mark.bad_input
def test_missing_gmt_names_file_and_key(tmp_path):
    with pytest.raises(FerroscopeError, match="genesets.gmt") as exc:
        read_gmt(tmp_path / "nope.gmt")
    assert "nope.gmt" in str(exc.value)


def test_coverage_decides_and_explains():
    sets = [GeneSet("FULL", ("A", "B", "C", "D", "E")),
            GeneSet("SMALL", ("A", "B", "X")),
            GeneSet("SPARSE", tuple("ABCDE") + tuple(f"M{i}" for i in range(10)))]
    cov = coverage(sets, ["A", "B", "C", "D", "E"], min_genes=5, min_coverage=0.5,
                   unusable={"E": "constant"}).set_index("set")
    assert not cov.loc["FULL", "scored"]           # E is constant: only 4 usable genes
    assert "only 4 of 5" in cov.loc["FULL", "reason"]
    assert cov.loc["FULL", "missing"] == "E"
    assert not cov.loc["SMALL", "scored"]
    cov2 = coverage(sets, list("ABCDE"), min_genes=5, min_coverage=0.5).set_index("set")
    assert cov2.loc["FULL", "scored"]
    assert not cov2.loc["SPARSE", "scored"]        # 5 of 15 = 33% < 50%
    assert "33%" in cov2.loc["SPARSE", "reason"]


# --- aliases map set members to matrix rows, never the other way ---------------------------

def alias_file(tmp_path, rows, *, header="alias\tsymbol\tnote\tambiguous"):
    p = tmp_path / "aliases.tsv"
    p.write_text(header + "\n" + "".join("\t".join(r) + "\n" for r in rows))
    return p


@pytest.mark.bad_input
@pytest.mark.parametrize("rows,needle", [
    ([("AIFM2", "FSP1", "", ""), ("FSP1", "AIFM2", "", "")], "cycle: AIFM2 -> FSP1 -> AIFM2"),
    ([("GPX4", "GPX4X", "", ""), ("GPX4X", "GPX4", "", "")], "cycle: GPX4 -> GPX4X -> GPX4"),
    ([("GPX4", "GPX4", "", "")], "cycle: GPX4 -> GPX4"),
    ([("A1", "B1", "", ""), ("B1", "C1", "", "")], "itself an alias"),
    ([("NRF2", "NFE2L2", "", ""), ("nrf2", "KEAP1", "", "")], "two symbols"),
    ([("", "NFE2L2", "", "")], "empty alias or symbol"),
])
def test_alias_table_cycles_and_conflicts_stop(tmp_path, rows, needle):
    p = alias_file(tmp_path, rows)
    with pytest.raises(FerroscopeError, match=needle) as exc:
        AliasTable.read(p)
    assert str(p) in str(exc.value) and "Fix:" in str(exc.value)


@pytest.mark.bad_input
def test_alias_table_without_symbol_column(tmp_path):
    p = alias_file(tmp_path, [("FSP1", "AIFM2")], header="alias\tgene")
    with pytest.raises(FerroscopeError, match="column missing") as exc:
        AliasTable.read(p)
    assert "symbol" in str(exc.value) and "Fix:" in str(exc.value)


def test_shipped_alias_table_marks_taz_ambiguous(aliases):
    assert aliases("TAZ") == "WWTR1"            # in a gene set, TAZ (the paper's) is WWTR1
    assert "TAFAZZIN" in aliases.ambiguous["TAZ"]
    assert aliases.aliases_of("AIFM2") == ["FSP1"]


def test_affymetrix_taz_row_is_never_renamed_to_wwtr1(aliases):
    sets = [GeneSet("SORAFENIB_RESISTANCE", ("WWTR1", "YAP1", "GPX4"))]
    # array with both rows: each member takes its own row; tafazzin stays TAZ
    res = resolve_members(sets, ["TAZ", "WWTR1", "YAP1", "GPX4"], aliases)
    assert res["WWTR1"].row == "WWTR1" and res["WWTR1"].via == ""
    # array with only TAZ (tafazzin): WWTR1 is missing, and the reason says why
    res = resolve_members(sets, ["TAZ", "YAP1", "GPX4"], aliases)
    assert res["WWTR1"].row is None and "TAZ" in res["WWTR1"].reason
    assert "ambiguous" in res["WWTR1"].reason and "TAFAZZIN" in res["WWTR1"].reason


def test_member_found_by_alias_when_its_symbol_is_absent(aliases):
    sets = [GeneSet("S", ("AIFM2", "NFE2L2", "HMOX1", "GPX4", "C8orf76"))]
    rows = ["FSP1", "Nrf2", "HO-1", "GPX4", "C8ORF76"]
    res = resolve_members(sets, rows, aliases)
    assert {m: r.row for m, r in res.items()} == {
        "AIFM2": "FSP1", "NFE2L2": "Nrf2", "HMOX1": "HO-1", "GPX4": "GPX4",
        "C8orf76": "C8ORF76"}
    assert res["AIFM2"].via == "alias FSP1" and res["C8orf76"].via == "case C8ORF76"
    (gs,) = resolve_sets(sets, rows, aliases)
    assert gs.genes == ("FSP1", "Nrf2", "HO-1", "GPX4", "C8ORF76")
    # approved symbol first: with both AIFM2 and FSP1 rows, AIFM2 is used
    res = resolve_members(sets, ["AIFM2", "FSP1"], aliases)
    assert res["AIFM2"].row == "AIFM2"


def test_alias_never_steals_another_members_approved_row():
    # X1 is an alias of A in the table but also the approved symbol of a set member
    table = AliasTable({"X1": "A"}, {}, {"X1": "X1"})
    sets = [GeneSet("S1", ("A", "B")), GeneSet("S2", ("X1",))]
    res = resolve_members(sets, ["X1", "B"], table)
    assert res["X1"].row == "X1" and res["A"].row is None
    # even when X1's own set is not among the sets being scored, coverage and score agree
    # because both resolve over all sets (score.py: resolve_sets(all_sets, ...))
    res = resolve_members([GeneSet("S1", ("A", "B"))], ["X1", "B"], table)
    assert res["A"].row == "X1"


def test_coverage_reports_aliases_used_and_missing_reasons(aliases):
    sets = [GeneSet("S", ("AIFM2", "GPX4", "NQO1", "FTH1", "GCLC", "GSR"))]
    cov = coverage(sets, ["FSP1", "GPX4", "NQO1", "FTH1"], min_genes=5, min_coverage=0.5,
                   aliases=aliases,
                   unusable={"NQO1": "constant across samples",
                             "GCLC": "missing in 77% of samples (> missing.max_fraction 0.2)"})
    row = cov.iloc[0]
    assert row["n_present"] == 3 and not row["scored"]   # NQO1 constant, GCLC dropped
    assert row["aliases_used"] == "AIFM2=FSP1"
    assert row["missing"] == "NQO1,GCLC,GSR"
    assert "NQO1: constant" in row["missing_reasons"]
    assert "GCLC: missing in 77%" in row["missing_reasons"]
    assert "GSR" not in row["missing_reasons"]           # simply absent


@pytest.mark.bad_input
def test_non_utf8_gmt_names_file_line_and_fix(tmp_path):
    p = tmp_path / "sets.gmt"
    p.write_bytes(b"S1\td\tGPX4\nS2\tcaf\xff\tGPX4\n")
    with pytest.raises(FerroscopeError, match=r"line 2 is not UTF-8 .*0xff") as exc:
        read_gmt(p)
    assert str(p) in str(exc.value) and "genesets.gmt" in str(exc.value)
    assert "save the file as UTF-8" in str(exc.value)


def test_member_matrix_takes_rows_by_symbol_then_alias_never_another_genes_symbol():
    """Signatures and trained models see members through the same resolver as the gene sets:
    CARS1 on an array that still says CARS, never a row that is another gene's symbol."""
    import numpy as np
    import pandas as pd

    from ferroscope.genesets import AliasTable, member_matrix

    aliases = AliasTable.read(REPO / "resources" / "genesets" / "aliases.tsv")
    rows = ["CARS", "GPX4", "TAZ", "FSP1", "AIFM2"]
    expr = pd.DataFrame(np.arange(15.0).reshape(5, 3), index=rows, columns=["a", "b", "c"])
    out = member_matrix(expr, ["CARS1", "GPX4", "WWTR1", "AIFM2", "NQO1"], aliases)
    assert list(out.index) == ["CARS1", "GPX4", "AIFM2"]   # WWTR1 never takes TAZ; NQO1 absent
    assert out.loc["CARS1"].tolist() == expr.loc["CARS"].tolist()
    assert out.loc["AIFM2"].tolist() == expr.loc["AIFM2"].tolist()  # its own row, not FSP1's
    assert list(expr.index) == rows                          # the matrix is not renamed
