"""Public data sources, one module each: GEO (series matrix, supplements, platform tables) and
TCGA (UCSC Xena GDC hub matrices, the TCGA-CDR survival table).

Each module builds the download URLs from a configurable base (``mirrors:`` in config, so a
mirror or a loopback server can stand in for the public host) and turns the downloaded files
into the standard pair the prepare step reads: a genes x samples expression table and a clinical
table with one row per sample.
"""

from . import geo, tcga

SOURCES = {"geo": geo, "tcga": tcga}

DEFAULT_MIRRORS = {
    "geo": "https://ftp.ncbi.nlm.nih.gov/geo",
    "xena_gdc": "https://gdc-hub.s3.us-east-1.amazonaws.com/download",
    "gdc_api": "https://api.gdc.cancer.gov/data",
}
