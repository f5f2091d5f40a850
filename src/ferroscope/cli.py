"""``ferroscope`` command line: small maintenance commands (the workflow itself is Snakemake)."""

from __future__ import annotations

import argparse
import sys

from .errors import FerroscopeError
from .genesets import gmt_from_table, read_genes_table, write_gmt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ferroscope")
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build-gmt", help="write the GMT from the curated gene table")
    b.add_argument("--table", default="resources/genesets/genes.tsv")
    b.add_argument("--out", default="resources/genesets/ferroptosis.gmt")
    d = sub.add_parser("config-docs", help="regenerate config/README.md's key tables from "
                       "workflow/schemas")
    d.add_argument("--readme", default="config/README.md")
    d.add_argument("--schemas", default="workflow/schemas")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "build-gmt":
            sets = gmt_from_table(read_genes_table(args.table))
            write_gmt(sets, args.out)
            print(f"wrote {len(sets)} sets to {args.out}")
        elif args.cmd == "config-docs":
            from .configdoc import update

            changed = update(args.readme, args.schemas)
            print(f"{args.readme}: {'updated' if changed else 'already current'}")
    except FerroscopeError as err:
        print(f"ferroscope: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
