"""Assemble a GEO cohort: series matrix (or a supplementary expression table) + platform table
(+ clinical supplement) -> expression, clinical."""

import json

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)

from ferroscope.io import atomic_open, read_table, write_tsv
from ferroscope.logs import step_logging
from ferroscope.sources import geo

cfg = snakemake.params.cohort
inp = snakemake.input
with step_logging(snakemake.log[0], "geo_cohort") as log:
    sm = geo.read_series_matrix(inp.matrix)
    if cfg["platform"] not in sm.platforms:
        log.warning("series lists platforms %s, config says %s", sm.platforms, cfg["platform"])
    counts = {}
    gsm = geo.select_samples(sm, cfg.get("samples", {}).get("keep"), inp.matrix, counts)
    log.info("%s: samples.keep kept %d, excluded %d, without the characteristic %d",
             cfg["accession"], counts["kept"], counts["excluded"], counts["missing"])
    sup_cfg = cfg.get("expression_supplement")
    if sup_cfg:
        raw, stats = geo.read_expression_supplement(
            inp.expression_supplement, sm.samples, sample_key=sup_cfg["sample_key"],
            header_startswith=sup_cfg.get("header_startswith"),
            drop_row_prefixes=sup_cfg.get("drop_row_prefixes", []))
        raw = raw[gsm]
        log.info("%s: expression from %s: %s", cfg["accession"], inp.expression_supplement,
                 stats)
    else:
        raw = sm.expression[gsm]
    if "probe_table" in inp.keys():
        pt = cfg["probe_table"]
        symbols = geo.read_platform_table(inp.probe_table, pt["probe_column"],
                                          pt["symbol_column"])
        expr, stats = geo.map_probes(raw, symbols)
        log.info("%s: %d of %d samples kept; probes: %s", cfg["accession"], len(gsm),
                 len(sm.samples), stats)
    else:
        expr = raw
    supplement = None
    if "clinical_supplement" in inp.keys():
        supplement = read_table(inp.clinical_supplement, what="clinical supplement")
    clinical = geo.clinical_table(sm, gsm, supplement,
                                  cfg.get("clinical_supplement", {}).get("id_column"),
                                  inp.get("clinical_supplement", inp.matrix))
    expr.index.name = "gene"
    write_tsv(expr, snakemake.output.expression, index=True)
    write_tsv(clinical, snakemake.output.clinical)
    keep = cfg.get("samples", {}).get("keep") or {}
    with atomic_open(snakemake.output.selection, "w") as fh:
        json.dump({"mapping": "samples.keep", "column": keep.get("characteristic", "(all)"),
                   "kept": counts["kept"], "dropped": counts["excluded"] + counts["missing"],
                   "excluded": counts["excluded"], "missing": counts["missing"]}, fh)
