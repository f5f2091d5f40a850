"""Download one file of a public cohort (see ferroscope.download); progress goes to the log."""

import signal
import sys

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)

from ferroscope.download import Limits, fetch
from ferroscope.logs import step_logging

# Snakemake stops jobs with SIGTERM: exit through Python so fetch() removes its .part file.
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

with step_logging(snakemake.log[0], "fetch") as log:
    url = snakemake.params.url
    # the mirrors.<key> whose base URL this file comes from, named in error messages
    key = next((k for k, base in snakemake.params.mirrors.items()
                if url.startswith(str(base).rstrip("/") + "/")), None)
    limits = Limits.from_config(snakemake.params.download)
    log.info("fetching %s (deadline %g s, minimum %g bytes/s over %g s)", url,
             limits.deadline_seconds, limits.min_bytes_per_second,
             limits.min_speed_window_seconds)
    fetch(url, snakemake.output[0], limits=limits,
          field=f"cohorts.{snakemake.wildcards.cohort}", mirror_key=key)
