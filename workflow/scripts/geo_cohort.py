"""Assemble a GEO cohort: series matrix + platform table (+ supplement) -> expression, clinical."""

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)

from ferroscope.io import read_table, write_tsv
from ferroscope.logs import step_logging
from ferroscope.sources import geo

cfg = snakemake.params.cohort
with step_logging(snakemake.log[0], "geo_cohort") as log:
    sm = geo.read_series_matrix(snakemake.input.matrix)
    if cfg["platform"] not in sm.platforms:
        log.warning("series lists platforms %s, config says %s", sm.platforms, cfg["platform"])
    gsm = geo.select_samples(sm, cfg.get("samples", {}).get("keep"), snakemake.input.matrix)
    pt = cfg["probe_table"]
    symbols = geo.read_platform_table(snakemake.input.probe_table, pt["probe_column"],
                                      pt["symbol_column"])
    expr, stats = geo.map_probes(sm.expression[gsm], symbols)
    log.info("%s: %d of %d samples kept; probes: %s", cfg["accession"], len(gsm),
             sm.expression.shape[1], stats)
    supplement = None
    if "supplement" in snakemake.input.keys():
        supplement = read_table(snakemake.input.supplement, what="clinical supplement")
    clinical = geo.clinical_table(sm, gsm, supplement,
                                  cfg.get("clinical_supplement", {}).get("id_column"),
                                  snakemake.input.get("supplement", snakemake.input.matrix))
    expr.index.name = "gene"
    write_tsv(expr, snakemake.output.expression, index=True)
    write_tsv(clinical, snakemake.output.clinical)
