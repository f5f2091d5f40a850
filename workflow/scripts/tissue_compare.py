"""Tumour vs non-tumour in one cohort: every scored set x method and every seed gene
(resources/genesets/genes.tsv) on expression; paired signed-rank where pairs exist."""

import _bootstrap  # noqa: F401  (puts the checkout's src/ on sys.path if needed)
import pandas as pd

from ferroscope import tissue
from ferroscope.checks import read_h5ad, read_scores
from ferroscope.genesets import AliasTable, member_matrix, read_genes_table
from ferroscope.io import write_tsv
from ferroscope.logs import step_logging

cohort = snakemake.wildcards.cohort
with step_logging(snakemake.log[0], "tissue_compare") as log:
    adata = read_h5ad(snakemake.input.h5ad)
    groups = adata.obs[[tissue.GROUP, tissue.PAIR]]
    tables = []
    for method, path in zip(snakemake.params.methods, snakemake.input.scores, strict=True):
        scores = read_scores(path, adata.obs_names)
        tables.append(tissue.compare(scores, groups, cohort=cohort, method=method))
    seeds = tissue.seed_genes(read_genes_table(snakemake.input.genes_table))
    genes = member_matrix(adata.to_df().T, list(seeds), AliasTable.read(snakemake.input.aliases))
    log.info("%d of %d seed genes in the matrix", len(genes), len(seeds))
    tables.append(tissue.compare(genes.T, groups, cohort=cohort, method=tissue.EXPRESSION,
                                 sets=seeds))
    table = pd.concat([t for t in tables if not t.empty], ignore_index=True)
    ok = table[table["status"] == "ok"]
    log.info("%s: %d tests (%s)", cohort, len(ok), ok["test"].value_counts().to_dict())
    write_tsv(table, snakemake.output[0])
