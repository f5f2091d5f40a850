"""A deterministic synthetic HCC cohort with planted effects, for the demo run and the tests.

The cohort looks like a real one as ferroscope receives it: a genes x samples log2 matrix whose
gene names include aliases the prepare step must translate (FSP1, NRF2, HO-1), and a raw clinical
table with OS in days, vital status as text, best response as RECIST categories and a treatment
arm, mapped to the standard table by the cohort's ``clinical`` entry in config.

Planted effects (all on latent per-patient factors, standard normal):

* ``nrf2``: loads on every NRF2_TARGETS gene with correlation ``LOADING``; OS hazard is
  ``PLANTED_OS_HR`` per SD of this factor (exponential times, median ~30 months at factor 0).
* ``resistance``: loads on every SORAFENIB_RESISTANCE gene; in the sorafenib arm, responders
  (CR/PR) have the factor shifted down by ``RESPONSE_SHIFT`` SD, giving a non-response AUC of
  ``PLANTED_AUC`` (binormal: AUC = Phi(shift / sqrt 2)).
* Nothing is planted for FERROPTOSIS_DRIVERS (no gene shared with the sets above): the null set.

* ``PLANTED_RISK``: a multi-gene risk on genes outside the three sets above: the log hazard adds
  ``sum_j beta_j * x_j`` with ``x_j`` the gene's expression standardised within the cohort
  (population SD). These genes carry no factor, so a penalised Cox model trained on ``demo``
  should select them with these signs and validate in ``demo_validation``. It needs no new random
  draw (the genes' expression is already drawn), so every earlier draw is unchanged.
* ``SIGNATURE_GENES``: filler rows renamed to the genes of the shipped published signatures
  (resources/signatures) that the curated sets lack, so those signatures can be scored; they are
  noise (no effect). ``NULL_SIGNATURE`` genes are filler genes without any effect.

* ``n_nontumour`` patients (config ``demo.n_nontumour``; default none) also get an adjacent
  non-tumour sample: every gene correlates ``NONTUMOUR_RHO`` with the patient's tumour, and the
  genes of ``TISSUE_SETS`` (the ferroptosis defence sets) are ``TISSUE_SHIFT`` gene-SDs lower
  than in the tumour: defence is up in tumour, which the paired test must recover; nothing else
  differs. They are drawn from their own random stream after everything else, so the tumour
  matrix, the clinical table and every number above are unchanged.

Stage and age are drawn independently of everything (no effect), so the univariate HR per SD is
the planted one (the independent multi-gene risk attenuates it slightly: Cox models are not
collapsible).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from .constants import DAYS_PER_MONTH
from .genesets import GeneSet
from .io import atomic_path, write_tsv

# When the generator's output changes, bump GENERATOR_VERSION in ferroscope.sources.demo (the
# demo source's version), so existing demo cohorts are regenerated.
PLANTED_OS_HR = 1.6
PLANTED_AUC = 0.75
RESPONSE_SHIFT = float(np.sqrt(2) * norm.ppf(PLANTED_AUC))
LOADING = 0.85
NRF2_SET = "NRF2_TARGETS"
RESISTANCE_SET = "SORAFENIB_RESISTANCE"
NULL_SET = "FERROPTOSIS_DRIVERS"
#: Written under these names in the raw matrix, to exercise alias harmonisation.
RAW_ALIASES = {"AIFM2": "FSP1", "NFE2L2": "NRF2", "HMOX1": "HO-1"}
#: Left out of the raw matrix, to exercise coverage reporting.
ABSENT = ("ALOXE3",)
#: Planted multi-gene OS risk: log HR per SD of each gene's expression (genes outside the
#: NRF2, sorafenib-resistance and driver sets, with no latent factor).
PLANTED_RISK = {"SPP1": 0.30, "TM4SF1": 0.25, "GCH1": -0.25, "STEAP3": -0.20}
#: Filler rows renamed to the published-signature genes missing from the curated sets.
SIGNATURE_GENES = ("G6PD", "CISD1", "ACACA", "NFS1", "SLC1A5", "CARS1", "ACSL3", "RPL8")
#: Planted tumour vs non-tumour difference: defence genes higher in tumour by this many SDs.
TISSUE_SETS = ("FERROPTOSIS_DEFENCE_GSH", "FERROPTOSIS_DEFENCE_GSH_INDEPENDENT")
TISSUE_SHIFT = 0.8
NONTUMOUR_RHO = 0.6
#: the second random stream (non-tumour samples): default_rng([seed, NONTUMOUR_STREAM])
NONTUMOUR_STREAM = 18
#: Genes of the demo null signature (resources/signatures/demo_null.tsv): plain filler genes.
NULL_SIGNATURE = ("SYNTH00101", "SYNTH00202", "SYNTH00303", "SYNTH00404", "SYNTH00505")


@dataclass(frozen=True)
class DemoCohort:
    expression: pd.DataFrame  # genes x samples (raw names)
    clinical: pd.DataFrame    # raw clinical table
    factors: pd.DataFrame     # latent factors per sample (for tests)
    #: adjacent non-tumour samples (genes x samples, raw names) and their clinical rows
    nontumour: pd.DataFrame | None = None
    nontumour_clinical: pd.DataFrame | None = None


def generate(sets: list[GeneSet], *, n_patients: int = 300, n_genes: int = 20000,
             seed: int = 20261124, n_nontumour: int = 0) -> DemoCohort:
    """Generate the cohort. Same arguments, same bytes (``n_nontumour`` changes nothing else)."""
    rng = np.random.default_rng(seed)
    by_name = {gs.name: gs for gs in sets}
    curated = list(dict.fromkeys(g for gs in sets for g in gs.genes if g not in ABSENT))
    n_filler = max(n_genes - len(curated), 0)
    genes = curated + [f"SYNTH{i:05d}" for i in range(1, n_filler + 1)]
    # rename the first fillers (same number of rows, so every random draw is unchanged)
    extra = [g for g in SIGNATURE_GENES if g not in curated][:n_filler]
    genes[len(curated):len(curated) + len(extra)] = extra
    samples = [f"DEMO-{i:04d}" for i in range(1, n_patients + 1)]

    factors = pd.DataFrame({"nrf2": rng.standard_normal(n_patients),
                            "resistance": rng.standard_normal(n_patients)}, index=samples)
    arm = np.where(rng.random(n_patients) < 0.55, "sorafenib", "placebo")
    responder = rng.random(n_patients) < 0.4
    treated_responder = (arm == "sorafenib") & responder
    factors.loc[treated_responder, "resistance"] -= RESPONSE_SHIFT

    # Baseline expression: gene means ~ N(7, 2) (log2), gene SDs ~ U(0.3, 1.2).
    mu = rng.normal(7.0, 2.0, size=len(genes))
    sd = rng.uniform(0.3, 1.2, size=len(genes))
    z = rng.standard_normal((len(genes), n_patients))
    row = {g: i for i, g in enumerate(genes)}
    for factor, set_name in (("nrf2", NRF2_SET), ("resistance", RESISTANCE_SET)):
        f = factors[factor].to_numpy()
        f = (f - f.mean()) / f.std()
        for g in by_name[set_name].genes:
            if g in row:
                i = row[g]
                z[i] = LOADING * f + np.sqrt(1 - LOADING**2) * z[i]
    expr = mu[:, None] + sd[:, None] * z
    names = [RAW_ALIASES.get(g, g) for g in genes]
    expression = pd.DataFrame(expr.astype(np.float32), index=pd.Index(names, name="gene"),
                              columns=samples)

    # Overall survival: exponential, hazard ln2/30 per month at factor 0, planted HR per SD.
    beta = np.log(PLANTED_OS_HR)
    f_os = factors["nrf2"].to_numpy()
    risk = planted_risk(expr, row)
    hazard = np.log(2) / 30.0 * np.exp(beta * (f_os - f_os.mean()) / f_os.std() + risk)
    event_time = rng.exponential(1.0 / hazard)
    censor_time = rng.uniform(24.0, 120.0, size=n_patients)
    os_months = np.minimum(event_time, censor_time)
    dead = event_time <= censor_time
    best = np.where(responder, rng.choice(["CR", "PR"], size=n_patients, p=[0.25, 0.75]),
                    rng.choice(["SD", "PD"], size=n_patients, p=[0.45, 0.55]))
    # Placebo patients get a best response too, unrelated to the resistance factor: the
    # score x arm interaction then shows the score predicts benefit from the drug.
    clinical = pd.DataFrame({
        "patient": samples,
        "title": [f"synthetic HCC tumour {s}" for s in samples],
        "os_days": np.round(os_months * DAYS_PER_MONTH).astype(int).clip(min=1),
        "vital_status": np.where(dead, "Dead", "Alive"),
        "treatment": arm,
        "best_response": best,
        "stage": rng.choice(["I", "II", "III", "IV"], size=n_patients, p=[0.3, 0.3, 0.3, 0.1]),
        "age": np.round(rng.normal(61, 10, size=n_patients)).astype(int),
    })
    factors["planted_risk"] = risk
    if not n_nontumour:
        return DemoCohort(expression, clinical, factors)
    normal, normal_clin = _nontumour(by_name, genes, row, mu, sd, z, clinical, names,
                                     n_nontumour, seed)
    return DemoCohort(expression, clinical, factors, normal, normal_clin)


def _nontumour(by_name: dict[str, GeneSet], genes: list[str], row: dict[str, int],
               mu: np.ndarray, sd: np.ndarray, z: np.ndarray, clinical: pd.DataFrame,
               names: list[str], n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Adjacent non-tumour samples of ``n`` patients (own random stream): correlated with the
    patient's tumour, defence genes TISSUE_SHIFT SDs lower."""
    rng = np.random.default_rng([seed, NONTUMOUR_STREAM])
    n_patients = z.shape[1]
    who = np.sort(rng.choice(n_patients, size=min(n, n_patients), replace=False))
    e = rng.standard_normal((len(genes), len(who)))
    zn = NONTUMOUR_RHO * z[:, who] + np.sqrt(1 - NONTUMOUR_RHO**2) * e
    shift = np.zeros(len(genes))
    for set_name in TISSUE_SETS:
        for g in by_name[set_name].genes if set_name in by_name else ():
            if g in row:
                shift[row[g]] = TISSUE_SHIFT
    values = mu[:, None] + sd[:, None] * (zn - shift[:, None])
    patients = clinical["patient"].to_numpy()[who]
    ids = [f"{p}-N" for p in patients]
    expr = pd.DataFrame(values.astype(np.float32), index=pd.Index(names, name="gene"),
                        columns=ids)
    # patient-level fields are the patient's (as in real cohorts); only id and title differ
    clin = clinical.iloc[who].copy()
    clin["patient"] = ids
    clin["title"] = [f"synthetic adjacent non-tumour liver {p}" for p in patients]
    return expr, clin.reset_index(drop=True)


def planted_risk(expr: np.ndarray, row: dict[str, int]) -> np.ndarray:
    """Linear predictor of the planted multi-gene risk: sum_j beta_j (x_j - mean) / SD_pop.

    Genes absent from a small cohort contribute nothing.
    """
    risk = np.zeros(expr.shape[1])
    for gene, coef in PLANTED_RISK.items():
        if gene in row:
            x = expr[row[gene]].astype(float)
            risk += coef * (x - x.mean()) / x.std()
    return risk


def write(cohort: DemoCohort, expression_path: str | Path, clinical_path: str | Path) -> None:
    """Write the raw files the prepare step reads (gzip level 1: the matrix is large)."""
    with atomic_path(expression_path) as tmp:
        cohort.expression.to_csv(tmp, sep="\t", float_format="%.4f",
                                 compression={"method": "gzip", "compresslevel": 1})
    write_tsv(cohort.clinical, clinical_path)
