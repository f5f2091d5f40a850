"""Tumour vs adjacent non-tumour: rank tests equal to R, sample groups, pooling, the demo's
planted difference, and the real strings of the public cohorts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from ferroscope import ranktests, tissue
from ferroscope.errors import FerroscopeError

from .conftest import REPO, shared_path
from .rref import require_r
from .tissue_cases import GOLDEN, cases, r_results, random_features

#: R prints 15 significant digits into the golden file; the live R test compares full doubles
GOLDEN_TOL = 1e-13


def _check(case: dict, ref: dict, tol: float) -> None:
    fn = ranktests.signed_rank if case["paired"] else ranktests.rank_sum
    got = fn(np.array(case["x"]), np.array(case["y"]))
    for key in ("estimate", "ci_low", "ci_high", "statistic"):
        assert getattr(got, key) == pytest.approx(ref[key], rel=tol, abs=tol), (case["name"],
                                                                                  key)
    assert got.p == pytest.approx(ref["p"], rel=1e-12), case["name"]


@pytest.mark.parametrize("case", json.loads(GOLDEN.read_text())["cases"],
                         ids=lambda c: c["name"])
def test_equal_to_r_golden(case):
    """R's wilcox.test(conf.int = TRUE), paired and unpaired, exact and normal branches."""
    _check(case, json.loads(GOLDEN.read_text())["results"][case["name"]], GOLDEN_TOL)


def _stack(vectors: list[list[float]]) -> np.ndarray:
    out = np.full((len(vectors), max(map(len, vectors))), np.nan)
    for i, v in enumerate(vectors):
        out[i, :len(v)] = v
    return out


@pytest.mark.parametrize("paired", [True, False])
def test_all_features_at_once_equal_r_golden(paired):
    """The golden cases stacked as rows of one matrix (NaN-padded to the longest): one
    vectorised call, every row equal to R (the lockstep root finder keeps each row's iterates)."""
    golden = json.loads(GOLDEN.read_text())
    chosen = [c for c in golden["cases"] if c["paired"] is paired]
    fn = ranktests.signed_rank_many if paired else ranktests.rank_sum_many
    res = fn(_stack([c["x"] for c in chosen]), _stack([c["y"] for c in chosen]))
    assert not any(res.error)
    for i, case in enumerate(chosen):
        ref = golden["results"][case["name"]]
        for key in ("estimate", "ci_low", "ci_high", "statistic"):
            assert getattr(res, key)[i] == pytest.approx(ref[key], rel=GOLDEN_TOL,
                                                         abs=GOLDEN_TOL), (case["name"], key)
        assert res.p[i] == pytest.approx(ref["p"], rel=1e-12), case["name"]


def test_untestable_features_follow_r():
    """A constant paired difference: R 4.2 gives V, p and the midrange, no CI (its warning
    'cannot compute confidence interval when all observations are zero or tied'; values
    printed by R 4.2.2 with digits = 17); all-zero differences: not tested."""
    res = ranktests.signed_rank(np.arange(6.0) + 1.5, np.arange(6.0) + 1)
    assert res.statistic == 21 and res.estimate == 0.5 and not res.exact
    assert res.p == pytest.approx(0.019656157250169875, rel=1e-12)
    assert np.isnan(res.ci_low) and np.isnan(res.ci_high)
    g = _groups(6)
    vals = pd.DataFrame({"SAME": np.r_[np.arange(6.0), np.arange(6.0)],
                         "OK": np.r_[np.arange(6.0) * 1.3 + 0.5, np.arange(6.0)]},
                        index=g.index)
    out = tissue.compare(vals, g, cohort="c", method="mean_z").set_index("set")
    assert out.loc["SAME", "note"] == "not testable: all differences are zero"
    assert out.loc["OK", "status"] == "ok" and out.loc["OK", "test"] == "signed_rank"


def test_normal_quantiles_are_rs_to_the_last_bit():
    """R 4.2.2 qnorm((1 - 0.95) / 2, lower.tail = FALSE) (printed with %.17g): scipy's ndtri is
    2 ulp off, which moves uniroot's iterates (a CI end ~5e-7 away from R's)."""
    from ferroscope.rmath import qnorm

    alpha = 1 - 0.95
    assert qnorm(alpha / 2, lower_tail=False) == 1.9599639845400536
    assert qnorm(alpha / 2) == -1.9599639845400536
    assert qnorm(0.025, lower_tail=False) == 1.9599639845400538
    assert qnorm(1e-300) == -37.047096299361201          # the far-tail branch


def test_golden_cases_are_the_current_cases():
    assert json.loads(GOLDEN.read_text())["cases"] == cases()


@pytest.mark.slow
def test_equal_to_live_r(tmp_path):
    rscript = require_r("jsonlite")
    ref = r_results(tmp_path, rscript)
    for case in cases():
        _check(case, ref[case["name"]], 1e-12)


@pytest.mark.slow
def test_all_features_at_once_equal_live_r(tmp_path):
    """60 random features (213 / 19 pairs, NaN pairs, ties, zeros; unpaired 30 vs 23) in one
    call per test, each equal to R's wilcox.test on that feature."""
    rscript = require_r("jsonlite")
    which = random_features()
    ref = r_results(tmp_path, rscript, which)
    for paired in (True, False):
        chosen = [c for c in which if c["paired"] is paired]
        xs = _stack([[np.nan if v is None else v for v in c["x"]] for c in chosen])
        fn = ranktests.signed_rank_many if paired else ranktests.rank_sum_many
        res = fn(xs, _stack([c["y"] for c in chosen]))
        for i, case in enumerate(chosen):
            r = ref[case["name"]]
            for key in ("estimate", "ci_low", "ci_high", "statistic"):
                assert getattr(res, key)[i] == pytest.approx(r[key], rel=1e-12, abs=1e-12), (
                    case["name"], key)
            assert res.p[i] == pytest.approx(r["p"], rel=1e-12), case["name"]


def test_branches_follow_r():
    c = {x["name"]: x for x in cases()}
    exact = ranktests.signed_rank(c["paired_n49"]["x"], c["paired_n49"]["y"])
    approx = ranktests.signed_rank(c["paired_n50"]["x"], c["paired_n50"]["y"])
    ties = ranktests.signed_rank(c["paired_ties_zeros"]["x"], c["paired_ties_zeros"]["y"])
    assert exact.exact and not approx.exact and not ties.exact and ties.n_zero > 0
    assert exact.ci_low < exact.estimate < exact.ci_high


def test_planted_paired_shift_is_recovered():
    rng = np.random.default_rng(3)
    base = rng.normal(0, 1, 40)
    res = ranktests.signed_rank(base + 1.0 + rng.normal(0, 0.3, 40), base)
    assert res.ci_low < 1.0 < res.ci_high and res.p < 1e-6 and res.n == 40


def test_hedges_g_paired_and_unpaired():
    x = np.array([2.0, 3.0, 5.0, 4.0, 6.0, 5.5])
    y = np.array([1.0, 2.5, 3.0, 3.5, 4.0, 5.0])
    g, se = tissue.hedges_g(x, y, paired=False)
    sp = np.sqrt((np.var(x, ddof=1) + np.var(y, ddof=1)) / 2)
    d = (x.mean() - y.mean()) / sp
    j = 1 - 3 / (4 * 10 - 1)
    assert g == pytest.approx(j * d)
    assert se == pytest.approx(j * np.sqrt(12 / 36 + d * d / 24))
    gp, sep = tissue.hedges_g(x, y, paired=True)
    r = np.corrcoef(x, y)[0, 1]
    dz = (x - y).mean() / (np.std(x - y, ddof=1) / np.sqrt(2 * (1 - r)))
    assert gp == pytest.approx((1 - 3 / 19) * dz)
    assert sep == pytest.approx((1 - 3 / 19) * np.sqrt((1 / 6 + dz**2 / 12) * 2 * (1 - r)))


def _groups(n_pairs: int, n_extra_tumours: int = 0) -> pd.DataFrame:
    t = [f"T{i}" for i in range(n_pairs + n_extra_tumours)]
    n = [f"N{i}" for i in range(n_pairs)]
    return pd.DataFrame({tissue.GROUP: [tissue.TUMOUR] * len(t) + [tissue.NON_TUMOUR] * len(n),
                         tissue.PAIR: [f"P{i}" for i in range(len(t))]
                         + [f"P{i}" for i in range(n_pairs)]}, index=t + n)


def test_compare_pairs_by_patient_and_falls_back_to_unpaired():
    rng = np.random.default_rng(5)
    g = _groups(12, n_extra_tumours=3)
    base = pd.Series(rng.normal(0, 1, 15), index=[f"P{i}" for i in range(15)])
    vals = pd.DataFrame({"S": [base[p] + (0.8 if grp == tissue.TUMOUR else 0.0)
                               + rng.normal(0, 0.2)
                               for p, grp in zip(g[tissue.PAIR], g[tissue.GROUP],
                                                 strict=True)]}, index=g.index)
    row = tissue.compare(vals, g, cohort="c", method="mean_z").iloc[0]
    assert row["test"] == "signed_rank" and row["n"] == 12 and row["p"] < 0.01
    direct = ranktests.signed_rank(vals.loc[[f"T{i}" for i in range(12)], "S"].to_numpy(),
                                vals.loc[[f"N{i}" for i in range(12)], "S"].to_numpy())
    assert row["estimate"] == direct.estimate and row["ci_low"] == direct.ci_low
    unpaired = g.assign(**{tissue.PAIR: ""})
    row = tissue.compare(vals, unpaired, cohort="c", method="mean_z").iloc[0]
    assert row["test"] == "rank_sum" and row["n"] == 27 and row["n_tumour"] == 15


def test_pooled_rows_and_own_fdr_family():
    rng = np.random.default_rng(9)
    tables = []
    for c in ("a", "b", "c"):
        g = _groups(20)
        vals = pd.DataFrame({"S": rng.normal(0, 1, 40) + np.r_[np.ones(20), np.zeros(20)],
                             "NULL": rng.normal(0, 1, 40)}, index=g.index)
        tables.append(tissue.compare(vals, g, cohort=c, method="mean_z"))
    out = tissue.with_pooled_and_fdr(tables)
    pooled = out[out["cohort"] == "pooled"].set_index("set")
    assert set(pooled.index) == {"S", "NULL"} and (pooled["n_cohorts"] == 3).all()
    # pooled by ferroscope.meta (REML + HKSJ by default, DL selectable) on Hedges' g
    per = out[out["cohort"] != "pooled"]
    s = per[per["set"] == "S"]
    from ferroscope import meta
    for method in meta.METHODS:
        ref = meta.pool(s["smd"].to_numpy()[None], s["se_smd"].to_numpy()[None], method=method)
        got = tissue.pool(per, method).set_index("set").loc["S"]
        assert got["meta_method"] == method
        assert np.isclose(got["estimate"], ref.estimate[0], rtol=1e-14)
        assert np.isclose(got["pi_low"], ref.pi_low[0], rtol=1e-14)
    assert pooled.loc["S", "estimate"] > 0.5 and pooled.loc["S", "p"] < 0.01
    assert tissue.pool(per, "dl").set_index("set").loc["S", "p"] < 1e-4
    assert np.allclose(np.sort(per["q"]), np.sort(
        __import__("scipy").stats.false_discovery_control(per["p"], method="bh")))


@pytest.mark.bad_input
def test_local_compare_value_matching_nothing_stops():
    clin = pd.DataFrame({"sample": ["a", "b", "c"], "tissue": ["tumour", "normal", "tumour"],
                         "patient": ["p1", "p1", "p2"]})
    with pytest.raises(FerroscopeError, match=r"\['Normal'\].*observed: tumour \(2\), "
                                              r"normal \(1\)") as err:
        tissue.mark_local(clin, {"compare": {"column": "tissue", "values": ["Normal"]},
                                 "pair_by": "patient"}, source="clin.tsv", cid="x")
    assert "samples.compare.values" in str(err.value) and "clin.tsv" in str(err.value)


def test_local_split_keeps_tumours_exactly():
    clin = pd.DataFrame({"sample": ["a", "b", "c", "d"],
                         "tissue": ["tumour", "normal", "tumour", "normal"],
                         "patient": ["p1", "p1", "p2", "p3"], "os": [1, 2, 3, 4]})
    raw = pd.DataFrame(np.arange(8.0).reshape(2, 4), index=["G1", "G2"],
                       columns=["a", "b", "c", "d"])
    cfg = {"source": "local", "clinical": {"sample_id": "sample"},
           "samples": {"compare": {"column": "tissue", "values": ["normal"]},
                       "pair_by": "patient"}}
    expr, c2, _ = tissue.tumour_only(raw, clin, [], cfg, source="x", cid="x")
    assert list(expr.columns) == ["a", "c"] and list(c2.columns) == list(clin.columns)
    assert list(c2["sample"]) == ["a", "c"]
    e3, groups, rec = tissue.comparison_samples(raw, clin, [], cfg, source="x", cid="x")
    assert list(e3.columns) == ["a", "b", "c", "d"]
    assert rec[0]["pairs"] == 1 and rec[0]["kept"] == 2 and rec[0]["tumours"] == 2
    assert list(groups[tissue.PAIR]) == ["p1", "p1", "p2", "p3"]


def test_seed_genes_keep_every_set():
    table = pd.DataFrame({"symbol": ["GPX4", "SLC7A11", "GPX4"],
                          "set": ["GSH", "GSH", "NRF2"]})
    assert tissue.seed_genes(table) == {"GPX4": "GSH,NRF2", "SLC7A11": "GSH"}


# ------------------------------------------------------------------------------------------
# the real strings of config/public_cohorts.yaml

def _public():
    return yaml.safe_load((REPO / "config" / "public_cohorts.yaml").read_text())["cohorts"]


@pytest.mark.shared
def test_gse76427_comparison_strings_and_pairs():
    pdata = pd.read_csv(shared_path("cohorts", "GSE76427", "derived_GSE76427_pdata.tsv"),
                        sep="\t")
    entry = _public()["GSE76427"]["samples"]
    values = pdata["tissue:ch1"].value_counts()
    assert values[entry["compare"]["values"][0]] == 52
    assert values[entry["keep"]["values"][0]] == 115
    key = pdata[entry["pair_by"] + ":ch1"]
    tum = set(key[pdata["tissue:ch1"].isin(entry["keep"]["values"])])
    non = set(key[pdata["tissue:ch1"].isin(entry["compare"]["values"])])
    assert len(tum & non) == 52


@pytest.mark.shared
def test_gse14520_gpl3921_comparison_strings():
    pdata = pd.read_csv(shared_path("cohorts", "GSE14520", "GSE14520_clinical_platform1.csv.gz"))
    tissue_col = pdata["Tissue:ch1"].fillna(pdata["tissue:ch1"])
    entry = _public()["GSE14520_GPL3921"]["samples"]
    assert int(tissue_col.isin(entry["compare"]["values"]).sum()) == 220
    sup = pd.read_csv(shared_path("cohorts", "GSE14520", "GSE14520_clinical_full.csv"))
    sup = sup.set_index("Affy_GSM").reindex(pdata["geo_accession"])
    ids = sup["ID"].to_numpy()
    tum = set(ids[tissue_col.isin(entry["keep"]["values"]).to_numpy()])
    non = set(ids[tissue_col.isin(entry["compare"]["values"]).to_numpy()])
    assert len(tum & non) == 213


@pytest.mark.shared
def test_tcga_lihc_normals_pair_with_primary_tumours():
    labels = pd.read_csv(shared_path("cohorts", "TCGA-LIHC", "labels.csv"))
    from ferroscope.sources import tcga

    types = _public()["TCGA-LIHC"]["samples"]["compare"]["sample_types"]
    barcodes = list(labels["SampleID"])
    normals = tcga.comparison_samples(barcodes, types)
    tumours = tcga.primary_tumours(barcodes)
    assert len(normals) == 50 and int((labels["Label"] == 0).sum()) == 50
    assert len(set(normals) & set(tumours)) == 50


def test_demo_nontumour_leaves_the_tumour_cohort_identical_and_plants_the_difference():
    from ferroscope import demo
    from ferroscope.genesets import AliasTable, read_gmt

    gs = REPO / "resources" / "genesets"
    sets = read_gmt(gs / "ferroptosis.gmt", AliasTable.read(gs / "aliases.tsv"))
    plain = demo.generate(sets, n_patients=80, n_genes=600, seed=4)
    with_n = demo.generate(sets, n_patients=80, n_genes=600, seed=4, n_nontumour=40)
    pd.testing.assert_frame_equal(plain.expression, with_n.expression)
    pd.testing.assert_frame_equal(plain.clinical, with_n.clinical)
    pd.testing.assert_frame_equal(plain.factors, with_n.factors)
    normal = with_n.nontumour
    assert normal.shape == (600, 40) and normal.columns.str.endswith("-N").all()
    tum = with_n.expression[normal.columns.str.removesuffix("-N")]
    by_name = {s.name: s for s in sets}
    defence = [g for g in by_name["FERROPTOSIS_DEFENCE_GSH"].genes if g in normal.index]
    null = [g for g in by_name["FERROPTOSIS_DRIVERS"].genes if g in normal.index]

    def paired(genes):
        t = tum.loc[genes].to_numpy().mean(0)
        n = normal.loc[genes].to_numpy().mean(0)
        return ranktests.signed_rank(t, n)

    assert paired(defence).p < 1e-6 and paired(defence).estimate > 0.3
    assert paired(null).p > 0.01


@pytest.mark.slow
def test_demo_workflow_recovers_the_planted_tissue_difference(demo_run):
    stats = pd.read_csv(demo_run / "results" / "statistics.tsv", sep="\t")
    rows = stats[(stats["analysis"] == tissue.ANALYSIS) & (stats["cohort"] == "demo")]
    primary = rows[rows["method"] == "mean_z"].set_index("set")
    # the 3-gene GSH-independent set is below min_genes: its genes are tested as seed genes
    gsh = primary.loc["FERROPTOSIS_DEFENCE_GSH"]
    assert gsh["test"] == "signed_rank" and gsh["n"] == 60
    assert gsh["estimate"] > 0 and gsh["q"] < 1e-6
    null = primary.loc["FERROPTOSIS_DRIVERS"]  # nothing planted: small next to the defence set
    assert abs(null["smd"]) < 0.4 < gsh["smd"] and null["p"] > 1e-3
    genes = rows[rows["method"] == tissue.EXPRESSION].set_index("gene")
    for g in ("GPX4", "SLC7A11", "AIFM2", "DHODH"):
        assert genes.loc[g, "estimate"] > 0 and genes.loc[g, "p"] < 1e-3, g
    assert "FERROPTOSIS_DEFENCE_GSH" in tissue_sets()
    pooled = stats[(stats["analysis"] == tissue.ANALYSIS) & (stats["cohort"] == "pooled")
                   & (stats["method"] == "mean_z")].set_index("set")
    row = pooled.loc["FERROPTOSIS_DEFENCE_GSH"]
    assert row["n_cohorts"] == 2 and row["estimate"] > 0.5  # Hedges' g
    # REML + HKSJ over k = 2 (t with 1 df): the pooled row is meta.pool of the two cohorts'
    # g and flagged; each cohort's own CI excludes 0
    from ferroscope import meta
    per = stats[(stats["analysis"] == tissue.ANALYSIS) & (stats["cohort"] != "pooled")
                & (stats["method"] == "mean_z") & (stats["set"] == "FERROPTOSIS_DEFENCE_GSH")]
    ref = meta.pool(per["smd"].to_numpy()[None], per["se_smd"].to_numpy()[None])
    assert row["ci_low"] == pytest.approx(ref.ci_low[0], rel=1e-10) and "k = 2" in row["note"]
    assert (per["ci_low"] > 0).all()
    report = (demo_run / "results" / "report.html").read_text()
    assert 'id="tissue"' in report and "scored together" in report


def tissue_sets():
    from ferroscope.demo import TISSUE_SETS

    return TISSUE_SETS


def test_tumour_rows_keep_the_types_of_a_tumour_only_file(tmp_path):
    """Columns empty on the non-tumour rows (survival) read as int, as without them."""
    both = tmp_path / "both.tsv"
    both.write_text("sample\tos_days\tstatus\tferroscope_tissue\tferroscope_pair\n"
                    "a\t10\t1\ttumour\tp1\nb\t\t\tnon_tumour\tp1\nc\t20\t0\ttumour\tp2\n")
    alone = tmp_path / "alone.tsv"
    alone.write_text("sample\tos_days\tstatus\na\t10\t1\nc\t20\t0\n")
    clin = pd.read_csv(both, sep="\t")
    assert clin["os_days"].dtype == float
    raw = pd.DataFrame([[1.0, 2.0, 3.0]], index=["G"], columns=["a", "b", "c"])
    cfg = {"source": "geo", "clinical": {"sample_id": "sample"},
           "samples": {"compare": {"characteristic": "tissue", "values": ["x"]}}}
    rec = [{"mapping": "samples.keep"}, {"mapping": "samples.compare"}]
    expr, tum, records = tissue.tumour_only(raw, clin, rec, cfg, source=str(both), cid="c")
    pd.testing.assert_frame_equal(tum, pd.read_csv(alone, sep="\t"))
    assert list(expr.columns) == ["a", "c"] and records == [{"mapping": "samples.keep"}]


@pytest.mark.bad_input
def test_declared_comparison_without_reserved_columns_stops():
    cfg = {"source": "geo", "clinical": {"sample_id": "sample"},
           "samples": {"compare": {"characteristic": "tissue", "values": ["x"]}}}
    clin = pd.DataFrame({"sample": ["a"]})
    with pytest.raises(FerroscopeError, match="no 'ferroscope_tissue' column.*cohort_source"):
        tissue.tumour_only(pd.DataFrame({"a": [1.0]}), clin, [], cfg, source="c.tsv", cid="c")


@pytest.mark.slow
def test_local_cohort_comparison_through_the_workflow(tmp_path):
    """A local cohort naming its tissue column: tumours prepared as without it, both groups
    tested, paired by the patient column."""
    from ferroscope import demo
    from ferroscope.genesets import AliasTable, read_gmt

    from .conftest import demo_config, make_workdir, run_snakemake

    gs = REPO / "resources" / "genesets"
    c = demo.generate(read_gmt(gs / "ferroptosis.gmt", AliasTable.read(gs / "aliases.tsv")),
                      n_patients=60, n_genes=800, seed=1, n_nontumour=30)
    data = tmp_path / "wd" / "data"
    data.mkdir(parents=True)
    pd.concat([c.expression, c.nontumour], axis=1).to_csv(data / "expr.tsv.gz", sep="\t",
                                                          float_format="%.4f")
    clin = pd.concat([c.clinical.assign(tissue="HCC", person=c.clinical["patient"]),
                      c.nontumour_clinical.assign(
                          tissue="adjacent liver",
                          person=c.nontumour_clinical["patient"].str.removesuffix("-N"))])
    clin.to_csv(data / "clin.tsv", sep="\t", index=False)
    cfg = demo_config()
    entry = dict(cfg["cohorts"]["demo"], source="local", expression="data/expr.tsv.gz",
                 clinical_table="data/clin.tsv",
                 samples={"compare": {"column": "tissue", "values": ["adjacent liver"]},
                          "pair_by": "person"})
    entry.pop("demo")
    cfg["cohorts"] = {"local": entry}
    cfg["scoring"]["methods"] = ["mean_z"]
    cfg["scoring"]["primary"] = "mean_z"
    cfg.pop("models", None)
    wd = make_workdir(tmp_path / "wd", yaml.safe_dump(cfg))
    res = run_snakemake(wd, "results/tissue/statistics.tsv", "results/local/prepared.h5ad")
    assert res.returncode == 0, res.stderr[-3000:]
    import anndata as ad

    tum = ad.read_h5ad(wd / "results" / "local" / "prepared.h5ad")
    assert tum.n_obs == 60 and not tum.obs_names.str.endswith("-N").any()
    out = pd.read_csv(wd / "results" / "tissue" / "statistics.tsv", sep="\t")
    gsh = out[(out["set"] == "FERROPTOSIS_DEFENCE_GSH") & (out["method"] == "mean_z")].iloc[0]
    assert gsh["test"] == "signed_rank" and gsh["n"] == 30 and gsh["p"] < 1e-4
    assert gsh["estimate"] > 0
