"""Gene coverage per set for one cohort: set members resolved to matrix rows (approved symbol
first, then aliases); constant, all-missing and dropped-for-missingness genes count as missing."""

if __name__ != "__main__":
    # This folder is on sys.path while Snakemake runs a script, so `import coverage` (numba
    # does it to find coverage.py, the test-coverage package) would land here: refuse, so that
    # the importer sees the package as absent instead of running this step.
    raise ImportError("workflow/scripts/coverage.py is a Snakemake script, not a module")

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)

from ferroscope.checks import read_h5ad
from ferroscope.genesets import AliasTable, coverage, read_gmt
from ferroscope.io import write_tsv
from ferroscope.logs import step_logging
from ferroscope.scoring import unusable_genes
from ferroscope.uns import PreparedUns

with step_logging(snakemake.log[0], "coverage") as log:
    adata = read_h5ad(snakemake.input.h5ad)
    aliases = AliasTable.read(snakemake.input.aliases)
    sets = read_gmt(snakemake.input.gmt, aliases)
    unusable = unusable_genes(adata.to_df().T)
    notes = PreparedUns.read(adata.uns).prepare
    max_fraction = notes.get("missing_max_fraction", 0.2)
    for g, frac in notes.get("missing_genes_dropped", {}).items():
        unusable.setdefault(g, f"missing in {frac:.0%} of samples (> missing.max_fraction "
                               f"{max_fraction:g}), dropped in prepare")
    table = coverage(sets, adata.var_names, min_genes=snakemake.params.min_genes,
                     min_coverage=snakemake.params.min_coverage, unusable=unusable,
                     aliases=aliases)
    table.insert(0, "cohort", snakemake.wildcards.cohort)
    for row in table.itertuples():
        if not row.scored:
            log.warning("%s not scored: %s", row.set, row.reason)
        if row.aliases_used:
            log.info("%s: members found under an alias (member=row): %s", row.set,
                     row.aliases_used)
    write_tsv(table, snakemake.output[0])
