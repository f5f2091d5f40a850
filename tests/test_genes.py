"""Gene-level statistics (ferroscope.genelevel) and the report's Genes section.

Planted signals and reference implementations: lifelines (``survival.cox_per_sd``, itself
checked against R coxph in test_reference_survival) for the Cox HR per SD of a gene and of a
leave-one-out set score; the shipped GMT, alias and curation tables for which genes get rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import false_discovery_control

from ferroscope import genelevel as gl
from ferroscope.genesets import AliasTable, GeneSet, coverage, read_genes_table, read_gmt
from ferroscope.response import auc_test
from ferroscope.scoring import score_sets
from ferroscope.statistics import combine, meta_analyse
from ferroscope.survival import cox_per_sd

from .conftest import REPO

GS = REPO / "resources" / "genesets"


def planted_cohort(n: int = 240, n_genes: int = 40, beta: float = 0.5, seed: int = 1):
    """Genes x samples log2 matrix; gene PLANT has log HR ``beta`` per SD for OS."""
    rng = np.random.default_rng(seed)
    genes = ["PLANT", *(f"G{i:03d}" for i in range(1, n_genes))]
    samples = [f"S{i:03d}" for i in range(n)]
    x = rng.normal(7.0, 1.0, size=(n_genes, n))
    z = (x[0] - x[0].mean()) / x[0].std(ddof=1)
    t = rng.exponential(1.0 / (np.log(2) / 30 * np.exp(beta * z)))
    c = rng.uniform(12, 100, n)
    clin = pd.DataFrame({"os_time_months": np.minimum(t, c), "os_event": (t <= c).astype(float),
                         "response": rng.integers(0, 2, n).astype(float)},
                        index=pd.Index(samples, name="sample_id"))
    return pd.DataFrame(x, index=genes, columns=samples), clin


def universe_of(expr: pd.DataFrame, sets: list[GeneSet], seeds: pd.DataFrame | None = None,
                **kw) -> pd.DataFrame:
    seeds = seeds if seeds is not None else pd.DataFrame({"symbol": [], "set": []})
    return gl.gene_universe(sets, [s.name for s in sets], seeds, expr.index, **kw)


def test_planted_single_gene_effect_is_recovered_and_equals_lifelines():
    expr, clin = planted_cohort()
    sets = [GeneSet("SET_A", tuple(expr.index[:8]))]
    uni = universe_of(expr, sets, mode="all")
    assert len(uni) == len(expr) and uni.loc["G020", "sets"] == gl.NO_SET
    tab = gl.gene_statistics(gl.gene_matrix(expr, uni), uni, clin, cohort="c1",
                             endpoints=["os"], min_events=10, response_arm="")
    cox = tab[tab["analysis"] == gl.COX].set_index("gene")
    assert cox.loc["PLANT", "status"] == "ok"
    assert cox.loc["PLANT", "ci_low"] < np.exp(0.5) < cox.loc["PLANT", "ci_high"]
    assert cox.loc["PLANT", "p"] < 1e-6
    assert (cox.drop(index="PLANT")["p"] < 1e-3).sum() == 0  # the null genes stay null
    for g in ("PLANT", "G005"):
        ref = cox_per_sd(clin["os_time_months"], clin["os_event"], expr.loc[g], min_events=10,
                         td_auc=False)
        assert cox.loc[g, "estimate"] == pytest.approx(ref.hr, rel=1e-8)
        assert cox.loc[g, "p_lr"] == pytest.approx(ref.p_lr, rel=1e-6)
        assert cox.loc[g, "c_index"] == pytest.approx(ref.c_index, rel=1e-10)
        assert cox.loc[g, "km_logrank_p"] == pytest.approx(ref.km_logrank_p, rel=1e-10)
    assert set(tab["analysis"]) == {gl.COX, gl.AUC}
    assert (tab["method"] == gl.METHOD).all()
    auc = tab[tab["analysis"] == gl.AUC].set_index("gene")
    for g in ("PLANT", "G007"):  # the set-level response test (DeLong, Mann-Whitney)
        ref = auc_test(clin["response"], expr.loc[g])
        assert auc.loc[g, "estimate"] == pytest.approx(ref.auc, rel=1e-12)
        assert auc.loc[g, "se"] == pytest.approx(ref.se, rel=1e-10)
        assert auc.loc[g, "p"] == pytest.approx(ref.p_mwu, rel=1e-10)
        assert auc.loc[g, "n_responders"] == ref.n_responders


def test_gene_with_missing_cells_is_fitted_on_its_measured_samples():
    expr, clin = planted_cohort(n_genes=6)
    expr.iloc[2, :15] = np.nan
    uni = universe_of(expr, [GeneSet("S", tuple(expr.index))])
    tab = gl.gene_statistics(gl.gene_matrix(expr, uni), uni, clin, cohort="c",
                             endpoints=["os"], min_events=10).set_index("gene")
    g = expr.index[2]
    ok = expr.loc[g].notna()
    ref = cox_per_sd(clin["os_time_months"][ok], clin["os_event"][ok], expr.loc[g][ok],
                     min_events=10, td_auc=False)
    assert tab.loc[g, "n"] == ok.sum()
    assert tab.loc[g, "estimate"] == pytest.approx(ref.hr, rel=1e-8)
    assert tab.loc["PLANT", "n"] == len(clin)


def test_unscored_three_gene_set_still_gets_gene_rows():
    """AIFM2/DHODH/GCH1 (FERROPTOSIS_DEFENCE_GSH_INDEPENDENT) is never scored (min_genes 5),
    yet its genes are seed genes: each gets a row naming that set; AIFM2 found under FSP1."""
    aliases = AliasTable.read(GS / "aliases.tsv")
    sets = read_gmt(GS / "ferroptosis.gmt", aliases)
    seeds = read_genes_table(GS / "genes.tsv")
    members = list(dict.fromkeys(g for s in sets for g in s.genes))
    rows = [{"AIFM2": "FSP1"}.get(g, g) for g in members if g != "STIM1"] + ["FILLER1"]
    cov = coverage(sets, rows, min_genes=5, min_coverage=0.5, aliases=aliases)
    scored = set(cov.loc[cov["scored"], "set"])
    assert "FERROPTOSIS_DEFENCE_GSH_INDEPENDENT" not in scored
    uni = gl.gene_universe(sets, scored, seeds, rows, aliases)
    for g in ("AIFM2", "DHODH", "GCH1"):
        assert "FERROPTOSIS_DEFENCE_GSH_INDEPENDENT" in uni.loc[g, "sets"].split(gl.SET_SEP)
        assert uni.loc[g, "seed"]
    assert uni.loc["AIFM2", "row"] == "FSP1"
    assert uni.loc["STIM1", "row"] is None and "FILLER1" not in uni.index
    rng = np.random.default_rng(0)
    expr = pd.DataFrame(rng.normal(size=(len(rows), 60)), index=rows,
                        columns=[f"s{i}" for i in range(60)])
    clin = pd.DataFrame({"os_time_months": rng.uniform(1, 60, 60),
                         "os_event": rng.integers(0, 2, 60).astype(float)}, index=expr.columns)
    tab = gl.gene_statistics(gl.gene_matrix(expr, uni), uni, clin, cohort="c",
                             endpoints=["os"], min_events=5).set_index("gene")
    assert (tab.loc[["AIFM2", "DHODH", "GCH1"], "status"] == "ok").all()
    assert tab.loc["STIM1", "status"] == "not tested"
    assert "not in the matrix" in tab.loc["STIM1", "note"]
    # genes: all adds the filler row, never FSP1 again (AIFM2 took it)
    everything = gl.gene_universe(sets, scored, seeds, rows, aliases, mode="all")
    assert "FILLER1" in everything.index and "FSP1" not in everything.index


def test_leave_one_out_equals_a_direct_refit():
    expr, clin = planted_cohort(n_genes=12, beta=0.4)
    full = GeneSet("SET_A", tuple(expr.index[:6]))
    other = GeneSet("SET_B", tuple(expr.index[5:11]))
    loo, note = gl.loo_sets([full, other])
    assert note == "" and len(loo) == 12

    def score(chosen):
        return score_sets(expr, chosen, "ssgsea", min_size=1)

    out = gl.leave_one_out(expr, [full, other], loo, clin, score, cohort="c", method="ssgsea",
                           endpoints=["os"], min_events=10)
    assert len(out) == 12 and (out["status"] == "ok").all()
    row = out[(out["set"] == "SET_A") & (out["gene"] == "PLANT")].iloc[0]
    without = GeneSet("direct", tuple(g for g in full.genes if g != "PLANT"))
    direct = score_sets(expr, [without], "ssgsea")["direct"]
    ref = cox_per_sd(clin["os_time_months"], clin["os_event"], direct, min_events=10,
                     td_auc=False)
    assert row["hr_without"] == pytest.approx(ref.hr, rel=1e-8)
    assert row["p_without"] == pytest.approx(ref.p_wald, rel=1e-6)
    set_score = score_sets(expr, [full], "ssgsea")["SET_A"]
    ref_full = cox_per_sd(clin["os_time_months"], clin["os_event"], set_score, min_events=10,
                          td_auc=False)
    assert row["hr_set"] == pytest.approx(ref_full.hr, rel=1e-8)
    assert row["delta_log_hr"] == pytest.approx(np.log(ref.hr) - np.log(ref_full.hr), abs=1e-8)
    assert row["r"] == pytest.approx(np.corrcoef(expr.loc["PLANT"], set_score)[0, 1], abs=1e-12)
    # the planted gene drives SET_A: without it the HR moves towards 1 more than without others
    a = out[out["set"] == "SET_A"].set_index("gene")["delta_log_hr"]
    assert a.idxmin() == "PLANT"


def test_loo_is_limited_to_curated_sets_in_a_large_collection():
    big = [GeneSet(f"S{i}", tuple(f"G{j}" for j in range(i, i + 10))) for i in range(20)]
    loo, note = gl.loo_sets(big, curated={"S3"}, max_sets=50)
    assert {s.name.split(gl.LOO_SEP)[0] for s in loo} == {"S3"} and len(loo) == 10
    assert "curated table" in note


def _two_cohorts():
    tables = []
    for k, seed in enumerate((3, 4)):
        expr, clin = planted_cohort(n=200, n_genes=10, seed=seed)
        sets = [GeneSet("SET_A", tuple(expr.index[:6])), GeneSet("SET_B", tuple(expr.index[4:9]))]
        uni = universe_of(expr, sets)
        tables.append(gl.gene_statistics(gl.gene_matrix(expr, uni), uni, clin,
                                         cohort=f"c{k}", endpoints=["os"], min_events=10))
    return tables


def test_gene_fdr_is_its_own_family_over_unique_genes_and_pooling_reuses_meta_analyse():
    tables = _two_cohorts()
    genes = gl.combine_genes(tables)
    # G004, G005 are in both sets: two rows each per cohort, one test each
    per = genes[genes["cohort"] != "pooled"]
    assert (per.groupby(["cohort", "gene"]).size().loc[("c0", "G004")]) == 2
    assert per.loc[per["gene"] == "G004", "n_sets"].eq(2).all()
    unique = per.drop_duplicates(["cohort", "gene", "endpoint", "analysis"])
    assert len(unique) == 2 * 9
    want = false_discovery_control(unique["p"].to_numpy(), method="bh")
    np.testing.assert_allclose(unique["q"].to_numpy(), want, rtol=1e-12)
    # the pooled PLANT row is meta_analyse of its two cohort rows
    cohort_rows = pd.concat(tables)
    plant = cohort_rows[(cohort_rows["gene"] == "PLANT")].assign(analysis="cox_hr_per_sd")
    ref = meta_analyse(plant).iloc[0]
    pooled = genes[(genes["cohort"] == "pooled") & (genes["gene"] == "PLANT")].iloc[0]
    assert pooled["estimate"] == pytest.approx(ref["estimate"], rel=1e-12)
    assert pooled["analysis"] == gl.COX and pooled["set"] == "SET_A"
    # set-level q values do not change when gene rows are present (separate combine)
    set_rows = pd.DataFrame({
        "cohort": ["c0", "c1"], "method": "mean_z", "set": "SET_A", "endpoint": "os",
        "analysis": "cox_hr_per_sd", "estimate": [1.2, 1.3], "ci_low": [1.0, 1.1],
        "ci_high": [1.4, 1.5], "p": [0.01, 0.04], "status": "ok", "note": "", "n": 200,
        "log_hr": np.log([1.2, 1.3]), "se_log_hr": [0.07, 0.08]})
    q_sets = combine([set_rows])["q"].to_numpy()
    np.testing.assert_allclose(q_sets[:2], false_discovery_control([0.01, 0.04]), rtol=1e-12)


def test_report_section_seed_genes_first_escaped_and_searchable():
    from ferroscope.report_genes import genes_section

    tables = _two_cohorts()
    for t in tables:
        t.loc[t["gene"] == "PLANT", "gene"] = "STIM1"
        t.loc[t["gene"] == "G003", "gene"] = "<b>EVIL</b>"
        t.loc[t["gene"] == "STIM1", "seed"] = 1
    stats = gl.combine_genes(tables)
    drivers = pd.DataFrame({
        "cohort": "c0", "method": "mean_z", "set": "SET_A", "gene": ["STIM1", "G001"],
        "row": ["STIM1", "G001"], "endpoint": "os", "r": [0.5, 0.4], "n": 200,
        "events": 100, "hr_set": 1.3, "hr_without": [1.05, 1.29], "ci_low_without": [0.9, 1.1],
        "ci_high_without": [1.2, 1.5], "p_without": [0.4, 0.01], "delta_log_hr": [-0.2, 0.0],
        "status": "ok", "note": ""})
    page = genes_section(stats, drivers, primary="mean_z", seeds=["STIM1"])
    assert page.startswith('<section id="genes">')
    assert page.index("Seed genes") < page.index("Which genes drive a set") \
        < page.index('id="gene-table-data"')
    assert "<b>EVIL</b>" not in page and "&lt;b&gt;EVIL&lt;" in page  # figure labels
    assert "\\u003cb\\u003eEVIL" in page  # the table's JSON cannot close its script element
    assert "set HR without the gene" in page
    from ferroscope.report_genes import seed_table  # a gene in two sets lists both
    (line,) = seed_table(stats, ["G004"], gl.COX, "os")
    assert line["sets"] == "SET_A, SET_B" and line["pooled"]
    assert "cdn" not in page.lower()


@pytest.mark.bad_input
def test_truncated_drivers_table_names_file_and_rule(tmp_path):
    from ferroscope.checks import read_gene_drivers
    from ferroscope.errors import FerroscopeError

    path = tmp_path / "results" / "c" / "genes" / "drivers.tsv"
    path.parent.mkdir(parents=True)
    path.write_text("cohort\tmethod\tset\tgene\tendpoint\tr\thr_set\thr_without\tstatus\n"
                    "c\tmean_z\tS\tG1\tos\t0.5\t1.2\t1.")
    with pytest.raises(FerroscopeError) as err:
        read_gene_drivers(path)
    msg = str(err.value)
    assert "drivers.tsv" in msg and "status" in msg and "--forcerun genes" in msg
    path.write_text("cohort\tset\n")
    with pytest.raises(FerroscopeError, match="lacks column"):
        read_gene_drivers(path)


@pytest.mark.bad_input
def test_misspelt_genes_mode_is_named():
    from ferroscope.config import validate_config
    from ferroscope.errors import FerroscopeError

    from .conftest import demo_config

    cfg = demo_config()
    assert validate_config(dict(cfg), schema_dir=REPO / "workflow" / "schemas",
                           base_dir=REPO)["genes"] == "sets"  # the default
    cfg["genes"] = "everything"
    with pytest.raises(FerroscopeError) as err:
        validate_config(cfg, schema_dir=REPO / "workflow" / "schemas", base_dir=REPO)
    assert "genes" in str(err.value) and "all" in str(err.value)
    with pytest.raises(ValueError, match="mode"):
        gl.gene_universe([], [], pd.DataFrame({"symbol": [], "set": []}), [], mode="every")
