# ferroscope: ferroptosis-defence and drug-resistance scores versus outcome in HCC cohorts.
#
# Stages (one file each under workflow/rules):
#   fetch.smk     downloads (fetch) and cohort_source: any source of ferroscope.sources (demo,
#                 GEO, TCGA) assembled into raw expression + clinical (local files are read in place)
#   prepare.smk   raw expression + clinical -> results/{cohort}/prepared.h5ad
#   score.smk     gene coverage and scores per cohort x method
#   survival.smk  screening (Cox HR per SD, C, KM median split) and detail tier per cohort x method
#   response.smk  screening (AUC, DeLong, Mann-Whitney) and detail tier per cohort x method
#   detail.smk    which sets get the detail tier (q, top p, curated sets)
#   genes.smk     gene level: member and seed genes vs outcome, leave one gene out, per cohort
#   signatures.smk published risk signatures and LASSO-Cox models (train, freeze, validate)
#   tissue.smk    tumour vs adjacent non-tumour (cohorts declaring a comparison group)
#   report.smk    results/statistics.tsv (BH FDR) and the self-contained results/report.html
#   figures.smk   static PNG/SVG figures beside the report (results/figures/)
# Config keys: config/README.md. Usable as a Snakemake `module` (README "Using ferroscope as a
# Snakemake module"): rule files find their schemas, scripts and src/ from their own location.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/preflight.smk"
include: "workflow/rules/signatures_common.smk"
include: "workflow/rules/fetch.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/survival.smk"
include: "workflow/rules/response.smk"
include: "workflow/rules/detail.smk"
include: "workflow/rules/genes.smk"
include: "workflow/rules/signatures.smk"
include: "workflow/rules/tissue.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/figures.smk"


# Aggregation steps are light, and compute nodes often have no internet: run these on the
# submitting host, not as cluster jobs.
localrules:
    all,
    fetch,
    detail_selection,
    statistics,
    tissue_statistics,
    report,


rule all:
    default_target: True
    input:
        all_targets(),
