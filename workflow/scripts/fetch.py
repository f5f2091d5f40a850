"""Download one file of a public cohort (see ferroscope.download)."""

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)

from ferroscope.download import fetch
from ferroscope.logs import step_logging

with step_logging(snakemake.log[0], "fetch") as log:
    opts = snakemake.params.download
    log.info("fetching %s", snakemake.params.url)
    fetch(snakemake.params.url, snakemake.output[0], retries=opts["retries"],
          backoff=opts["backoff_seconds"], timeout=opts["timeout_seconds"],
          field=f"cohorts.{snakemake.wildcards.cohort}")
