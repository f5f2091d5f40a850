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
])
def test_bad_gmt_is_named(tmp_path, content, needle):
    p = tmp_path / "bad.gmt"
    p.write_text(content)
    with pytest.raises(FerroscopeError, match=needle) as exc:
        read_gmt(p)
    assert str(p) in str(exc.value)


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
