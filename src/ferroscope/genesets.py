"""Gene sets: GMT reading and writing, HGNC alias harmonisation and per-cohort coverage.

The curated source of truth is ``resources/genesets/genes.tsv`` (one row per gene x set, with the
seed document and the quoted sentence that supports it); ``ferroptosis.gmt`` is generated from it
by :func:`gmt_from_table` (``ferroscope build-gmt``) and a test keeps the two equal.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    symbols pass through unchanged. The table translates **gene-set members** (a GMT written
    with ``FSP1`` means AIFM2) and lets :func:`resolve_members` find a member under one of its
    aliases in a matrix; it is never applied to the rows of an expression matrix, where an old
    name may be another gene's approved or previous symbol (Affymetrix ``TAZ`` is tafazzin,
    now TAFAZZIN, not WWTR1).

    ``ambiguous`` maps aliases that are also another gene's approved or previous symbol to the
    reason (column ``ambiguous`` of ``aliases.tsv``); such an alias is never used to find a
    member in a matrix.
    """

    mapping: dict[str, str] = field(default_factory=dict)
    ambiguous: dict[str, str] = field(default_factory=dict)
    spelled: dict[str, str] = field(default_factory=dict)  # upper-case alias -> table spelling

    @classmethod
    def read(cls, path: PathLike) -> AliasTable:
        p = Path(path)
        if not p.exists():
            raise FerroscopeError("alias table does not exist.", file=str(p),
                                  field="genesets.aliases",
                                  fix="set genesets.aliases to resources/genesets/aliases.tsv.")
        df = pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False)
        for col in ("alias", "symbol"):
            if col not in df.columns:
                raise FerroscopeError("column missing from the alias table.", file=str(p),
                                      field=col,
                                      fix="use the header 'alias<TAB>symbol<TAB>note<TAB>"
                                          "ambiguous'.")
        amb_col = df["ambiguous"] if "ambiguous" in df.columns else pd.Series([""] * len(df))
        mapping: dict[str, str] = {}
        ambiguous: dict[str, str] = {}
        spelled: dict[str, str] = {}
        for line, (alias, symbol, amb) in enumerate(
                zip(df["alias"], df["symbol"], amb_col, strict=True), start=2):
            key, symbol = alias.strip().upper(), symbol.strip()
            if not key or not symbol:
                raise FerroscopeError(f"line {line} has an empty alias or symbol.", file=str(p),
                                      field="alias" if not key else "symbol",
                                      fix="fill both columns or delete the line.")
            if key in mapping and mapping[key] != symbol:
                raise FerroscopeError(f"alias maps to two symbols ({mapping[key]}, {symbol}).",
                                      file=str(p), field=alias, fix="keep one row per alias.")
            mapping[key] = symbol
            spelled[key] = alias.strip()
            if amb.strip():
                ambiguous[key] = amb.strip()
        cls._check_cycles(mapping, spelled, str(p))
        return cls(mapping, ambiguous, spelled)

    @staticmethod
    def _check_cycles(mapping: Mapping[str, str], spelled: Mapping[str, str], file: str) -> None:
        """Stop on an alias whose symbol is itself an alias: a cycle or a two-step chain.

        ``AIFM2 -> FSP1`` beside ``FSP1 -> AIFM2`` would report AIFM2 missing although it is
        present; ``GPX4 -> GPX4X`` would rename GPX4 to a made-up symbol.
        """
        def is_case_variant(k: str) -> bool:  # HIF1a -> HIF1A: a spelling, not a cycle
            return k == mapping[k].upper() and spelled.get(k, k) != mapping[k]

        for key in mapping:
            if is_case_variant(key):
                continue
            path = [spelled.get(key, key)]
            seen = {key}
            cur = mapping[key]
            while cur.upper() in mapping and not is_case_variant(cur.upper()):
                path.append(cur)
                if cur.upper() in seen:
                    raise FerroscopeError(
                        f"the alias table has a cycle: {' -> '.join(path)}.", file=file,
                        field=path[0],
                        fix="map every alias to its HGNC-approved symbol, and never list an "
                            "approved symbol as an alias (delete the wrong row).")
                seen.add(cur.upper())
                cur = mapping[cur.upper()]
            if len(path) > 1:
                raise FerroscopeError(
                    f"the symbol of alias '{path[0]}' is itself an alias "
                    f"({' -> '.join([*path, cur])}).", file=file, field=path[0],
                    fix=f"map '{path[0]}' directly to the approved symbol '{cur}', or delete "
                        "the row that lists an approved symbol as an alias.")

    def __call__(self, name: str) -> str:
        name = name.strip()
        return self.mapping.get(name.upper(), name)

    def harmonise(self, names: Iterable[str]) -> list[str]:
        return [self(n) for n in names]

    def aliases_of(self, symbol: str) -> list[str]:
        """Aliases of ``symbol`` in table order (as spelled in the table)."""
        return [self.spelled.get(k, k) for k, v in self.mapping.items() if v == symbol]

    def symbols(self) -> set[str]:
        """The approved symbols the table maps to."""
        return set(self.mapping.values())


@dataclass(frozen=True)
class Resolution:
    """Where a gene-set member was found in a matrix.

    ``row`` is the matrix row (None when not found or unusable); ``via`` says how (``""``:
    its approved symbol; ``"alias FSP1"``; ``"case C8ORF76"``); ``reason`` says why it is
    missing (empty when found).
    """

    member: str
    row: str | None
    via: str = ""
    reason: str = ""


def resolve_members(sets: Iterable[GeneSet], rows: Iterable[str],
                    aliases: AliasTable | None = None, *,
                    unusable: Mapping[str, str] | None = None) -> dict[str, Resolution]:
    """Find every set member among the matrix rows: approved symbol first, then aliases.

    Rules (the alias table maps members to the matrix, never matrix rows to symbols):

    1. a member whose approved symbol is a usable row takes that row;
    2. else a row spelling the symbol in another case (``C8ORF76`` for ``C8orf76``);
    3. else the first of its aliases (table order, case-insensitive) that is a usable row, is
       not marked ambiguous, is not another gene's approved symbol (a member of any set or a
       symbol of the alias table) and is not already taken by another member.

    ``unusable`` maps rows that exist but cannot be scored (constant, dropped for missing
    values) to the reason; a member found only there is missing with that reason.
    """
    aliases = aliases or AliasTable()
    unusable = dict(unusable or {})
    members = list(dict.fromkeys(g for gs in sets for g in gs.genes))
    all_rows = list(dict.fromkeys([*map(str, rows), *unusable]))
    usable = [r for r in all_rows if r not in unusable]
    usable_set = set(usable)
    by_upper: dict[str, list[str]] = {}
    for r in usable:
        by_upper.setdefault(r.upper(), []).append(r)
    protected = set(members) | aliases.symbols()
    protected_upper = {p.upper() for p in protected}
    taken: set[str] = set()
    out: dict[str, Resolution] = {}
    for m in members:  # 1. approved symbol, exact
        if m in usable_set:
            out[m] = Resolution(m, m)
            taken.add(m)
    for m in members:  # 2. approved symbol in another case
        if m in out:
            continue
        cands = [r for r in by_upper.get(m.upper(), []) if r not in taken]
        if len(cands) == 1:
            out[m] = Resolution(m, cands[0], f"case {cands[0]}")
            taken.add(cands[0])
    for m in members:  # 3. aliases
        if m in out:
            continue
        notes = []
        for a in aliases.aliases_of(m):
            cands = [r for r in by_upper.get(a.upper(), []) if r not in taken]
            if not cands:
                continue
            if a.upper() in aliases.ambiguous:
                notes.append(f"row {cands[0]} not used: alias {a} is ambiguous "
                             f"({aliases.ambiguous[a.upper()]})")
                continue
            if a.upper() in protected_upper:
                notes.append(f"row {cands[0]} not used: {a} is another gene's approved symbol")
                continue
            out[m] = Resolution(m, cands[0], f"alias {cands[0]}")
            taken.add(cands[0])
            break
        else:
            if m in unusable:
                reason = unusable[m]
            else:
                hits = [(a, unusable[r]) for a in [m, *aliases.aliases_of(m)]
                        for r in all_rows if r.upper() == a.upper() and r in unusable]
                reason = f"{hits[0][0]}: {hits[0][1]}" if hits else "not in the matrix"
            if notes:
                reason += "; " + "; ".join(notes)
            out[m] = Resolution(m, None, "", reason)
    return out


def resolve_sets(sets: Iterable[GeneSet], rows: Iterable[str],
                 aliases: AliasTable | None = None, *,
                 unusable: Mapping[str, str] | None = None) -> list[GeneSet]:
    """The sets with each member replaced by its matrix row (members not found dropped).

    The one resolver shared by the coverage and score steps (see :func:`resolve_members`).
    """
    sets = list(sets)
    res = resolve_members(sets, rows, aliases, unusable=unusable)
    out = []
    for gs in sets:
        changes: dict[str, Any] = {
            "genes": tuple(str(res[g].row) for g in gs.genes if res[g].row is not None)}
        if getattr(gs, "duplicates", None):  # repeated members (GSVA 1.46 counts them twice)
            changes["duplicates"] = tuple(str(res[g].row) for g in gs.duplicates  # type: ignore
                                          if g in res and res[g].row is not None)
        out.append(dataclasses.replace(gs, **changes))
    return out


def member_matrix(expr: pd.DataFrame, members: Iterable[str],
                  aliases: AliasTable | None = None) -> pd.DataFrame:
    """The rows of ``expr`` (genes x samples) that ``members`` resolve to, labelled by member.

    For methods that use gene names as features (published signatures, trained models): each
    member (an approved symbol) takes its matrix row by :func:`resolve_members`' rules, so an
    array that names CARS1 by its previous symbol still provides it, while a row that is
    another gene's approved symbol is never taken. The matrix itself is not renamed; members
    not found are absent from the result.
    """
    members = list(dict.fromkeys(members))
    res = resolve_members([GeneSet("members", tuple(members))], expr.index, aliases)
    found = [(m, res[m].row) for m in members if res[m].row is not None]
    out = expr.loc[[str(row) for _, row in found]]
    out.index = pd.Index([m for m, _ in found], name=expr.index.name)
    return out


def read_gmt(path: PathLike, aliases: AliasTable | None = None) -> list[GeneSet]:
    """Read a GMT file (name, description, genes...; tab-separated), mapping aliases to HGNC."""
    p = Path(path)
    if not p.exists():
        raise FerroscopeError("gene set file does not exist.", file=str(p), field="genesets.gmt",
                              fix="point genesets.gmt in config/config.yaml at an existing .gmt.")
    sets: list[GeneSet] = []
    seen: set[str] = set()
    with open(p, "rb") as fh:
        raw_lines = fh.read().splitlines()
    for lineno, raw in enumerate(raw_lines, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FerroscopeError(
                f"line {lineno} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at column "
                f"{exc.start + 1}: {raw[max(0, exc.start - 20):exc.start + 5]!r}).",
                file=str(p), field="genesets.gmt",
                fix="save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8) or remove the "
                    "character.") from exc
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
        if not cleaned:
            raise FerroscopeError(f"gene set '{name}' (line {lineno}) has no genes.",
                                  file=str(p), field=name, fix="add genes or delete the line.")
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
             min_coverage: float, unusable: Mapping[str, str] | None = None,
             aliases: AliasTable | None = None) -> pd.DataFrame:
    """Per-set gene coverage in one cohort and the decision whether the set is scored.

    Members are found in ``genes`` (the matrix rows) by :func:`resolve_members`: approved
    symbol first, then aliases. ``unusable`` maps rows that cannot be scored (constant across
    samples, all missing, dropped for missing values) to a reason; they count as missing, with
    that reason in ``missing_reasons``. ``aliases_used`` lists members found under an alias
    (``AIFM2=FSP1``). A set is scored when at least ``min_genes`` genes and at least
    ``min_coverage`` of its genes are present; otherwise ``reason`` says why not.
    """
    sets = list(sets)
    res = resolve_members(sets, genes, aliases, unusable=unusable)
    rows = []
    for gs in sets:
        have = [g for g in gs.genes if res[g].row is not None]
        miss = [g for g in gs.genes if res[g].row is None]
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
            "missing_reasons": "; ".join(f"{g}: {res[g].reason}" for g in miss
                                         if res[g].reason != "not in the matrix"),
            "aliases_used": ",".join(f"{g}={res[g].row}" for g in have if res[g].via),
            "duplicates_removed": ",".join(gs.duplicates),
        })
    return pd.DataFrame(rows)
