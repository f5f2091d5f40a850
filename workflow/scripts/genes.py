"""Gene-level statistics of one cohort (every member and seed gene, or every gene with
`genes: all`) and leave-one-gene-out refits of every scored set (ferroscope.genelevel)."""

import json

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)

from ferroscope.checks import read_clinical, read_coverage, read_h5ad
from ferroscope.genelevel import (
    gene_matrix,
    gene_statistics,
    gene_universe,
    leave_one_out,
    loo_sets,
)
from ferroscope.genesets import AliasTable, read_genes_table, read_gmt, resolve_sets
from ferroscope.io import write_tsv
from ferroscope.logs import step_logging
from ferroscope.scoring import check_matrix, score_sets, unusable_genes

p = snakemake.params
with step_logging(snakemake.log[0], "genes") as log:
    cohort = snakemake.wildcards.cohort
    adata = read_h5ad(snakemake.input.h5ad)
    clin = read_clinical(snakemake.input.clinical, samples=adata.obs_names)
    aliases = AliasTable.read(snakemake.input.aliases)
    all_sets = read_gmt(snakemake.input.gmt, aliases)
    seeds = read_genes_table(snakemake.input.evidence)
    coverage = {str(path): read_coverage(path) for path in snakemake.input.coverage}
    scored_anywhere = {s for cov in coverage.values() for s in cov.loc[cov["scored"], "set"]}
    scored_here = set(coverage[str(snakemake.input.own_coverage)].query("scored")["set"])
    expr = adata.to_df().T
    check_matrix(expr, snakemake.input.h5ad)
    unusable = unusable_genes(expr)
    notes = json.loads(adata.uns["prepare"])
    for g, frac in notes.get("missing_genes_dropped", {}).items():
        unusable.setdefault(g, f"missing in {frac:.0%} of samples, dropped in prepare")
    universe = gene_universe(all_sets, scored_anywhere, seeds, expr.index, aliases,
                             unusable=unusable, mode=p.mode)
    log.info("%d genes (%d seed genes, %d not measured), mode %s", len(universe),
             int(universe["seed"].sum()), int(universe["row"].isna().sum()), p.mode)
    x = gene_matrix(expr, universe)
    table = gene_statistics(x, universe, clin, cohort=cohort, endpoints=p.endpoints,
                            min_events=p.min_events, response_arm=p.arm,
                            min_per_class=p.min_per_class)
    write_tsv(table, snakemake.output.statistics)

    # leave one gene out: the primary method, all LOO sets scored in one call
    usable = expr.drop(index=list(unusable_genes(expr)))
    sets = [s for s in resolve_sets(all_sets, usable.index, aliases) if s.name in scored_here]
    loo, limited = loo_sets(sets, curated=set(seeds["set"]))
    if limited:
        log.info("leave one gene out: %s", limited)
    params = dict(p.options)
    if p.method == "gsva" and json.loads(adata.uns.get("prepare", "{}")).get("log_transformed"):
        params["integer"] = False

    def score(chosen):
        # a LOO set has one member fewer: it may be scored from min_genes - 1 members
        return score_sets(usable, chosen, p.method, params=params, chunk_size=p.chunk_size,
                          missing=p.missing, min_size=max(1, p.min_genes - 1), cohort=cohort)

    symbol_of = {str(r): g for g, r in universe["row"].dropna().items()}
    drivers = leave_one_out(usable, sets, loo, clin, score, cohort=cohort, method=p.method,
                            endpoints=p.endpoints, min_events=p.min_events, symbol_of=symbol_of)
    log.info("leave one gene out: %d sets, %d LOO sets (%s)", len(sets), len(loo), p.method)
    write_tsv(drivers, snakemake.output.drivers)
