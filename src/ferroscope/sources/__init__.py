"""Public data sources, one module each: GEO (series matrix, supplements, platform tables) and
TCGA (UCSC Xena GDC hub matrices, the TCGA-CDR survival table).

Each module builds the download URLs from a configurable base (``mirrors:`` in config, whose
defaults live in ``workflow/schemas/config.schema.yaml``, so a mirror or a loopback server can
stand in for the public host) and turns the downloaded files into the standard pair the prepare
step reads: a genes x samples expression table and a clinical table with one row per sample.

The modules are imported by name (``from ferroscope.sources import geo``), not here: they need
pandas, and Snakemake imports this package while it parses the workflow.
"""
