# Config validation and target computation. Runs at parse time, before any job.
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

# This checkout (from this file, not workflow.basedir: used as a Snakemake `module`, basedir is
# the importing workflow's folder). Fall back to its src/ when ferroscope is not installed.
FERROSCOPE_ROOT = Path(str(workflow.current_basedir)).resolve().parents[1]
sys.path.append(str(FERROSCOPE_ROOT / "src"))
try:
    from ferroscope.config import validate_config
    from ferroscope.constants import DEMO_GENERATOR_VERSION
    from ferroscope.errors import FerroscopeError
except ImportError as err:
    raise WorkflowError(
        f"ferroscope: the package is not importable ({err}). Install it into the environment "
        "that runs snakemake: pip install -e . (see README.md)."
    ) from None

try:
    config = validate_config(
        config,
        schema_dir=FERROSCOPE_ROOT / "workflow" / "schemas",
        base_dir=Path.cwd(),  # paths in config are relative to the working directory
        workflow_dir=FERROSCOPE_ROOT,  # ... or, for the shipped gene sets, to this checkout
        config_file=(
            workflow.overwrite_configfiles[0]
            if workflow.overwrite_configfiles
            else "config/config.yaml"
        ),
    )
except FerroscopeError as err:
    raise WorkflowError(f"ferroscope: invalid configuration.\n{err}") from None

COHORTS = sorted(config["cohorts"])
METHODS = list(config["scoring"]["methods"])


wildcard_constraints:
    cohort="|".join(map(re.escape, COHORTS)),
    method="|".join(map(re.escape, METHODS)),


def resource(rule_name, key, default):
    """A job resource: config `resources: {rule: {key: value}}` wins over the rule's estimate."""
    value = config.get("resources", {}).get(rule_name, {}).get(key)
    return int(value if value is not None else max(1, round(default)))


def input_mb(input, name):
    """Size in MB of one named input (0 while it does not exist yet, e.g. during a dry run)."""
    path = Path(getattr(input, name))
    return path.stat().st_size / 1e6 if path.exists() else 0.0


def prepare_mem_mb(wildcards, input):
    # gzip text expands ~4x on parsing; pandas holds the text table and the float matrix
    return resource("prepare", "mem_mb", 1500 + 15 * input_mb(input, "expression"))


def score_mem_mb(wildcards, input):
    # the h5ad holds the genes x samples matrix; scoring keeps it in float64 plus one chunk of
    # ranks and sort indices (config scoring.chunk_size samples at a time)
    return resource("score", "mem_mb", 1500 + 6 * input_mb(input, "h5ad"))


def runtime_min(rule_name, base, per_mb, size_mb):
    return resource(rule_name, "runtime", base + per_mb * size_mb)


def cohorts_of(*sources):
    """Wildcard pattern matching the cohorts of these sources (never matches when none)."""
    ids = [c for c, v in config["cohorts"].items() if v["source"] in sources]
    return "|".join(map(re.escape, ids)) if ids else "(?!)"


def download_files(cohort):
    """role -> (file name, URL) of every download of a public cohort (GEO or TCGA)."""
    from ferroscope.sources import geo, tcga

    c = config["cohorts"][cohort]
    if c["source"] == "tcga":
        xena = config["mirrors"]["xena_gdc"]
        files = {
            "expression": c["expression_file"],
            "probemap": c["probemap_file"],
        }
        out = {k: (f, tcga.xena_url(xena, f)) for k, f in files.items()}
        out["cdr"] = (
            tcga.CDR_FILE,
            f"{config['mirrors']['gdc_api']}/{c['cdr_file_id']}",
        )
        if c.get("clinical_file"):
            out["gdc_clinical"] = (
                c["clinical_file"],
                tcga.xena_url(xena, c["clinical_file"]),
            )
        return out
    base = config["mirrors"]["geo"]
    gse = c["accession"]
    gpl = c["platform"] if c.get("multi_platform") else None
    matrix = geo.series_matrix_url(base, gse, gpl)
    out = {"matrix": (matrix.rsplit("/", 1)[1], matrix)}
    pt = c.get("probe_table")
    if pt:
        table = pt.get("url") or geo.platform_file_url(base, c["platform"], pt["file"])
        out["probe_table"] = (table.rsplit("/", 1)[1], table)
    for role in ("clinical_supplement", "expression_supplement"):
        if c.get(role):
            name = c[role]["file"]
            out[role] = (name, geo.supplement_url(base, gse, name))
    return out


def downloads(cohort):
    """file name -> URL of every download of a public cohort (GEO or TCGA)."""
    return dict(download_files(cohort).values())


def download_inputs(cohort):
    """The downloads of a public cohort as named inputs of its assembly rule."""
    folder = f"resources/cohorts/{cohort}/download"
    return {k: f"{folder}/{name}" for k, (name, _) in download_files(cohort).items()}


def cohort_cfg(wildcards):
    return config["cohorts"][wildcards.cohort]


def raw_expression(wildcards):
    c = cohort_cfg(wildcards)
    if c["source"] == "local":
        return c["expression"]
    return f"resources/cohorts/{wildcards.cohort}/expression.tsv.gz"


def raw_clinical(wildcards):
    c = cohort_cfg(wildcards)
    if c["source"] == "local":
        return c["clinical_table"]
    return f"resources/cohorts/{wildcards.cohort}/clinical.tsv"


def has_response(cohort):
    return "response" in config["cohorts"][cohort]["clinical"]


def has_survival(cohort):
    """The cohort maps at least one endpoint of survival.endpoints (else no survival job)."""
    clin = config["cohorts"][cohort]["clinical"]
    return any(f"{ep}_time" in clin for ep in config["survival"]["endpoints"])


def per_cohort_method(pattern, cohorts=None):
    """One path per cohort x method; `cohorts=[]` means none (not all)."""
    return [
        pattern.format(cohort=c, method=m)
        for c in (COHORTS if cohorts is None else cohorts)
        for m in METHODS
    ]


def static_figures():
    figs = [
        f"results/figures/forest_{a}_{m}.{ext}"
        for a in (["cox_hr_per_sd"] if any(map(has_survival, COHORTS)) else [])
        + (["auc"] if any(map(has_response, COHORTS)) else [])
        for m in METHODS
        for ext in ("png", "svg")
    ]
    for c in COHORTS:
        clin = config["cohorts"][c]["clinical"]
        os_tested = "os_time" in clin and "os" in config["survival"]["endpoints"]
        kinds = ["km"] if os_tested else []
        kinds += ["roc"] if has_response(c) else []
        figs += [
            f"results/figures/{k}_{c}.{ext}" for k in kinds for ext in ("png", "svg")
        ]
    return figs


def all_targets():
    return [
        "results/statistics.tsv",
        "results/report.html",
        *static_figures(),
        *risk_targets(),
    ]
