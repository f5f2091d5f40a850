"""Which sets get the detail tier: BH q as statistics.tsv computes it, top p, curated sets."""

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)

from ferroscope.checks import read_results
from ferroscope.genesets import read_gmt
from ferroscope.io import write_tsv
from ferroscope.logs import step_logging
from ferroscope.statistics import combine, detail_selection

with step_logging(snakemake.log[0], "detail_selection") as log:
    tables = [read_results(p) for p in [*snakemake.input.survival, *snakemake.input.response]]
    curated = [s.name for s in read_gmt(snakemake.input.curated)]
    screened = combine(tables, meta_method=snakemake.params.meta_method)
    chosen = detail_selection(screened, q=snakemake.params.q, top=snakemake.params.top,
                              curated=curated)
    log.info("%d cohort x method x set x endpoint rows in the detail tier", len(chosen))
    write_tsv(chosen, snakemake.output[0])
