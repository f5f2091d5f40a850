"""Gene sets: GMT reading and writing, HGNC alias harmonisation and per-cohort coverage.

The curated source of truth is ``resources/genesets/genes.tsv`` (one row per gene x set, with the
seed document and the quoted sentence that supports it); ``ferroptosis.gmt`` is generated from it
by :func:`gmt_from_table` (``ferroscope build-gmt``) and a test keeps the two equal.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import FerroscopeError
from .io import PathLike, atomic_open

GENES_TABLE_COLUMNS = ["symbol", "set", "role", "source", "evidence", "note"]
ROLES = {"defence", "driver", "resistance"}


@dataclass(frozen=True)
class GeneSet:
    """A named gene set. ``genes`` keeps file order with duplicates removed; ``duplicates``
    records each removed repeat (after alias mapping), once per extra copy, so that the
    coverage table can say so and GSVA 1.46 compatibility can count them twice."""

    name: str
    genes: tuple[str, ...]
    description: str = ""
    duplicates: tuple[str, ...] = ()


@dataclass
class AliasTable:
    """Maps names used in papers and old platforms to HGNC-approved symbols.

    Look-up is case-insensitive on the alias (papers write ``Nrf2`` and ``NRF2``); approved
    symbols pass through unchanged.
    """

    mapping: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, path: PathLike) -> AliasTable:
        p = Path(path)
        if not p.exists():
            raise FerroscopeError("alias table does not exist.", file=str(p),
                                  fix="set genesets.aliases to resources/genesets/aliases.tsv.")
        df = pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False)
        for col in ("alias", "symbol"):
            if col not in df.columns:
                raise FerroscopeError("column missing from the alias table.", file=str(p),
                                      field=col, fix="use the header 'alias<TAB>symbol<TAB>note'.")
        mapping: dict[str, str] = {}
        for alias, symbol in zip(df["alias"], df["symbol"], strict=True):
            key = alias.strip().upper()
            if key in mapping and mapping[key] != symbol:
                raise FerroscopeError(f"alias maps to two symbols ({mapping[key]}, {symbol}).",
                                      file=str(p), field=alias, fix="keep one row per alias.")
            mapping[key] = symbol.strip()
        return cls(mapping)

    def __call__(self, name: str) -> str:
        name = name.strip()
        return self.mapping.get(name.upper(), name)

    def harmonise(self, names: Iterable[str]) -> list[str]:
        return [self(n) for n in names]


def read_gmt(path: PathLike, aliases: AliasTable | None = None) -> list[GeneSet]:
    """Read a GMT file (name, description, genes...; tab-separated), mapping aliases to HGNC."""
    p = Path(path)
    if not p.exists():
        raise FerroscopeError("gene set file does not exist.", file=str(p), field="genesets.gmt",
                              fix="point genesets.gmt in config/config.yaml at an existing .gmt.")
    sets: list[GeneSet] = []
    seen: set[str] = set()
    with open(p, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\n\r").split("\t")
            if len(parts) < 3:
                raise FerroscopeError(
                    f"line {lineno} has {len(parts)} tab-separated fields; a GMT line needs a "
                    "name, a description and at least one gene.", file=str(p),
                    fix="separate fields with tabs, not spaces.")
            name, desc, genes = parts[0].strip(), parts[1].strip(), parts[2:]
            if name in seen:
                raise FerroscopeError(f"gene set '{name}' appears twice (line {lineno}).",
                                      file=str(p), fix="give each set a unique name.")
            seen.add(name)
            cleaned = [g.strip() for g in genes if g.strip()]
            if aliases is not None:
                cleaned = aliases.harmonise(cleaned)
            unique = tuple(dict.fromkeys(cleaned))
            dups = list(cleaned)
            for g in unique:
                dups.remove(g)
            sets.append(GeneSet(name, unique, desc, tuple(dups)))
    if not sets:
        raise FerroscopeError("no gene sets found.", file=str(p),
                              fix="add at least one line: name<TAB>description<TAB>gene...")
    return sets


def write_gmt(sets: Iterable[GeneSet], path: PathLike) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as fh:
        for gs in sets:
            fh.write("\t".join([gs.name, gs.description, *gs.genes]) + "\n")


def read_genes_table(path: PathLike) -> pd.DataFrame:
    """Read the curated gene x set table and check its columns and roles."""
    p = Path(path)
    df = pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_MINIMAL)
    missing = [c for c in GENES_TABLE_COLUMNS if c not in df.columns]
    if missing:
        raise FerroscopeError("columns missing from the curated gene table.", file=str(p),
                              field=", ".join(missing),
                              fix=f"use the header {GENES_TABLE_COLUMNS}.")
    bad = sorted(set(df["role"]) - ROLES)
    if bad:
        raise FerroscopeError(f"unknown role(s) {bad}.", file=str(p), field="role",
                              fix=f"use one of {sorted(ROLES)}.")
    empty = df.loc[df["evidence"].str.strip() == "", "symbol"].tolist()
    if empty:
        raise FerroscopeError(f"rows without evidence: {empty}.", file=str(p), field="evidence",
                              fix="quote the sentence of the seed document that supports the gene.")
    return df


SET_DESCRIPTIONS = {
    "FERROPTOSIS_DEFENCE_GSH": "GSH-dependent defence: system Xc- (SLC7A11/SLC3A2), "
                               "GSH synthesis, GPX4",
    "FERROPTOSIS_DEFENCE_GSH_INDEPENDENT": "GSH-independent defence: FSP1(AIFM2)-CoQ, DHODH, "
                                           "GCH1-BH4",
    "NRF2_TARGETS": "NRF2 target genes named in the HCC ferroptosis review",
    "IRON_HANDLING": "Iron import, reduction, storage, ferritinophagy and export",
    "FERROPTOSIS_DRIVERS": "Ferroptosis drivers: PUFA-PL synthesis, lipoxygenases, iron, "
                           "p53 targets",
    "SORAFENIB_RESISTANCE": "Sorafenib resistance via ferroptosis defence (KDELR3, "
                            "STIM1-SOCE-CaN-NFAT, YAP/TAZ, C8orf76, DAZAP1, FASN-HIF1A)",
    "LENVATINIB_RESISTANCE": "Lenvatinib resistance genes up-regulated in Table 1 of the review",
}


def gmt_from_table(table: pd.DataFrame) -> list[GeneSet]:
    """Gene sets in first-appearance order, genes in table order."""
    out = []
    for name, grp in table.groupby("set", sort=False):
        out.append(GeneSet(str(name), tuple(dict.fromkeys(grp["symbol"])),
                           SET_DESCRIPTIONS.get(str(name), "")))
    return out


def coverage(sets: Iterable[GeneSet], genes: Iterable[str], *, min_genes: int,
             min_coverage: float, unusable: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Per-set gene coverage in one cohort and the decision whether the set is scored.

    ``unusable`` maps genes present in the matrix but not usable (e.g. constant) to a reason;
    they count as missing. A set is scored when at least ``min_genes`` genes and at least
    ``min_coverage`` of its genes are present; otherwise ``reason`` says why not.
    """
    present = set(genes) - set(unusable or {})
    rows = []
    for gs in sets:
        have = [g for g in gs.genes if g in present]
        miss = [g for g in gs.genes if g not in present]
        frac = len(have) / len(gs.genes) if gs.genes else 0.0
        reason = ""
        if len(have) < min_genes:
            reason = f"only {len(have)} of {len(gs.genes)} genes present (min_genes = {min_genes})"
        elif frac < min_coverage:
            reason = (f"only {frac:.0%} of genes present (min_coverage = {min_coverage:.0%})")
        rows.append({
            "set": gs.name, "n_genes": len(gs.genes), "n_present": len(have),
            "coverage": round(frac, 4), "scored": reason == "", "reason": reason,
            "missing": ",".join(miss),
            "duplicates_removed": ",".join(gs.duplicates),
        })
    return pd.DataFrame(rows)
