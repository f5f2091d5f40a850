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
    from ferroscope import sources
    from ferroscope.config import validate_config
    from ferroscope.errors import FerroscopeError
except ImportError as err:
    raise WorkflowError(
        f"ferroscope: the package is not importable ({err}). Install it into the environment "
        "that runs snakemake: pip install -e . (see README.md)."
    ) from None

CONFIG_FILE = (
    workflow.overwrite_configfiles[0]
    if workflow.overwrite_configfiles
    else "config/config.yaml"
)
# No cohort in config/config.yaml, --configfile or --config: run the synthetic demo. Its
# cohorts, model and null signature live in config/demo.yaml only, so a config that names
# cohorts never inherits them (docs/configuration.md). Command-line values still win.
if not config.get("cohorts") and not config.get("cohorts_file"):
    workflow.configfile(str(FERROSCOPE_ROOT / "config" / "demo.yaml"))
    CONFIG_FILE = "config/demo.yaml"
    print(
        "ferroscope: no cohort configured: running the synthetic demo (config/demo.yaml).",
        file=sys.stderr,
    )

try:
    config = validate_config(
        config,
        schema_dir=FERROSCOPE_ROOT / "workflow" / "schemas",
        base_dir=Path.cwd(),  # paths in config are relative to the working directory
        workflow_dir=FERROSCOPE_ROOT,  # ... or, for the shipped gene sets, to this checkout
        config_file=CONFIG_FILE,
    )
except FerroscopeError as err:
    raise WorkflowError(f"ferroscope: invalid configuration.\n{err}") from None

COHORTS = sorted(config["cohorts"])


# Tumour vs adjacent non-tumour (tissue.smk): cohorts declaring a comparison group.
def has_comparison(cohort):
    cfg = config["cohorts"][cohort]
    return bool(cfg.get("samples", {}).get("compare")) or bool(
        cfg.get("demo", {}).get("n_nontumour", 0)
    )


TISSUE_COHORTS = [c for c in COHORTS if has_comparison(c)]


def tissue_targets():
    """results/tissue/statistics.tsv when a cohort declares a comparison (else nothing)."""
    return ["results/tissue/statistics.tsv"] if TISSUE_COHORTS else []


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


def source_of(cohort):
    """The cohort's source in the registry (ferroscope.sources)."""
    return sources.get(config["cohorts"][cohort]["source"])


def cohort_pattern(ids):
    """Wildcard pattern matching these cohorts (never matches when none)."""
    return "|".join(map(re.escape, ids)) if ids else "(?!)"


def downloaded_cohorts():
    """Cohorts with files to download (their source declares downloads)."""
    return cohort_pattern([c for c in COHORTS if download_files(c)])


def assembled_cohorts():
    """Cohorts whose source assembles raw tables (all but sources read in place: local)."""
    return cohort_pattern([c for c in COHORTS if source_of(c).assemble is not None])


def download_files(cohort):
    """role -> (file name, URL) of every download of a cohort (none for demo and local)."""
    return source_of(cohort).downloads(config["cohorts"][cohort], config["mirrors"])


def downloads(cohort):
    """file name -> URL of every download of a cohort."""
    return dict(download_files(cohort).values())


def assembly_inputs(wildcards):
    """Named inputs of the cohort_source rule: the source's downloads and other inputs."""
    c, folder = wildcards.cohort, f"resources/cohorts/{wildcards.cohort}/download"
    out = {role: f"{folder}/{name}" for role, (name, _) in download_files(c).items()}
    other = source_of(c).inputs(config["cohorts"][c], config)
    if set(other) & set(out):
        raise WorkflowError(
            f"ferroscope: source '{source_of(c).name}' names input role(s) "
            f"{sorted(set(other) & set(out))} both as a download and as an input."
        )
    return {**out, **other}


def cohort_cfg(wildcards):
    return config["cohorts"][wildcards.cohort]


def raw_inputs(wildcards):
    """The prepare rule's raw tables: a local source's own files (read in place, not copied),
    else the cohort_source rule's outputs (with its mapping records)."""
    source = source_of(wildcards.cohort)
    if source.raw_inputs is not None:
        return source.raw_inputs(cohort_cfg(wildcards))
    folder = f"resources/cohorts/{wildcards.cohort}"
    return {
        "expression": f"{folder}/expression.tsv.gz",
        "clinical": f"{folder}/clinical.tsv",
        "records": f"{folder}/selection.json",
    }


def has_response(cohort):
    return "response" in config["cohorts"][cohort]["clinical"]


def response_arm(cohort):
    """The treated arm of the cohort's response analysis ("" = every patient), a param of the
    response, report and figure rules (ferroscope.response.treated_subset)."""
    return config["cohorts"][cohort]["clinical"].get("response", {}).get("arm", "")


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
        *tissue_targets(),
    ]
