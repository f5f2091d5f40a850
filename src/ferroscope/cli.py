"""``ferroscope`` command line: small maintenance commands (the workflow itself is Snakemake).

* ``ferroscope build-gmt``: write the GMT from the curated gene table;
* ``ferroscope inspect SOURCE``: what a GEO series or a local file holds, and a suggested
  cohort entry (see :mod:`ferroscope.inspect`).
"""

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
    i = sub.add_parser(
        "inspect", help="show what a GEO series or a local file holds and suggest a cohort entry",
        description="SOURCE is a GEO accession (GSE14520, or GSE14520-GPL571 for one platform; "
                    "only the series matrix is fetched, through mirrors.geo of --config) or a "
                    "local series matrix, expression matrix or clinical table. Works offline "
                    "on local files.")
    i.add_argument("source")
    i.add_argument("--clinical", help="clinical table (local cohort) or a GEO supplementary "
                                      "table to join on the GSM id")
    i.add_argument("--platform", help="GPL of a multi-platform series (accession only)")
    i.add_argument("--config", default="config/config.yaml",
                   help="config whose mirrors.geo and download settings are used")
    i.add_argument("--cache", default="resources/inspect",
                   help="folder for the downloaded series matrix")
    i.add_argument("--id", dest="cohort_id", help="cohort id of the suggested entry")
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
        elif args.cmd == "inspect":
            from .inspect import inspect_source, render

            ins = inspect_source(args.source, clinical=args.clinical, platform=args.platform,
                                 config_path=args.config, cache=args.cache)
            print(render(ins, cohort_id=args.cohort_id))
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
