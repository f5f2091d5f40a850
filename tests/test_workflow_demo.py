"""The whole workflow on the demo cohort: planted effects recovered, report written, idempotent."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from ferroscope import demo

from .conftest import local_cohort_config, make_workdir, run_snakemake

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stats(demo_run):
    return pd.read_csv(demo_run / "results" / "statistics.tsv", sep="\t")


def row(stats, method, set_name, endpoint, cohort="demo"):
    r = stats[(stats.method == method) & (stats.set == set_name) & (stats.endpoint == endpoint)
              & (stats.cohort == cohort)]
    assert len(r) == 1
    return r.iloc[0]


@pytest.mark.parametrize("method", ["mean_z", "ssgsea"])
def test_planted_nrf2_hazard_ratio_is_recovered(stats, method):
    r = row(stats, method, demo.NRF2_SET, "os")
    assert abs(r.estimate - demo.PLANTED_OS_HR) < 0.15
    assert r.ci_low > 1.0
    assert r.q < 0.05


@pytest.mark.parametrize("method", ["mean_z", "ssgsea"])
def test_pooled_estimate_over_both_demo_cohorts(stats, method):
    r = row(stats, method, demo.NRF2_SET, "os", cohort="pooled")
    assert r.n_cohorts == 2 and abs(r.estimate - demo.PLANTED_OS_HR) < 0.15 and r.ci_low > 1
    null = row(stats, method, demo.NULL_SET, "os", cohort="pooled")
    assert null.p > 0.05 and null.ci_low < 1 < null.ci_high


@pytest.mark.parametrize("method", ["mean_z", "ssgsea"])
def test_null_set_is_not_significant(stats, method):
    for endpoint in ("os", "response"):
        r = row(stats, method, demo.NULL_SET, endpoint)
        assert r.p > 0.05 and r.q > 0.05
        assert r.ci_low < (1.0 if endpoint == "os" else 0.5) < r.ci_high


@pytest.mark.parametrize("method", ["mean_z", "ssgsea"])
def test_planted_resistance_auc_is_recovered(stats, method):
    r = row(stats, method, demo.RESISTANCE_SET, "response")
    # AUC is P(score higher in responders); the planted 0.75 is for non-response.
    assert 1 - r.ci_high < demo.PLANTED_AUC < 1 - r.ci_low
    assert r.ci_high < 0.5 and r.q < 0.05


def test_coverage_reports_missing_and_unscored_sets(demo_run):
    cov = pd.read_csv(demo_run / "results" / "demo" / "coverage.tsv", sep="\t").set_index("set")
    assert cov.loc["FERROPTOSIS_DRIVERS", "missing"] == "ALOXE3"
    # aliases in the raw matrix (FSP1, NRF2, HO-1) were translated, so nothing else is missing
    assert cov.loc["NRF2_TARGETS", "n_present"] == cov.loc["NRF2_TARGETS", "n_genes"]
    assert not cov.loc["FERROPTOSIS_DEFENCE_GSH_INDEPENDENT", "scored"]
    html = (demo_run / "results" / "report.html").read_text()
    assert "not scored: only 3 of 3 genes present (min_genes = 5)" in html


def test_report_is_self_contained(demo_run):
    html = (demo_run / "results" / "report.html").read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?https?:", html)
    assert html.count("Plotly.newPlot") >= 4          # forests, KM, response box, heatmap
    assert len(re.findall(r"plotly\.js v\d", html)) == 1  # library embedded once
    for section in ("Cohorts", "Gene coverage", "Survival", "Treatment response",
                    "All statistics", "Methods", "Provenance"):
        assert f">{section}</h2>" in html
    assert re.search(r"[0-9a-f]{64}", html)           # input checksums recorded


def test_second_run_has_nothing_to_do(demo_run):
    res = run_snakemake(demo_run)
    assert res.returncode == 0
    assert "Nothing to be done" in res.stdout + res.stderr


def test_no_partial_files_left(demo_run):
    assert not list(demo_run.rglob("*.part*"))


def test_public_text_is_escaped_in_report(tmp_path):
    """A local cohort whose metadata carries HTML: shown as text, never as markup."""
    def plant(cohort):
        c = cohort.clinical
        evaluable = c.index[(c["best_response"] != "") & (c["treatment"] == "sorafenib")][0]
        cohort.clinical.loc[evaluable, "title"] = "<script>alert('title')</script>"

    text = local_cohort_config(tmp_path, mutate=plant,
                               description="<script>alert('x')</script> & co")
    wd = make_workdir(tmp_path, text)
    res = run_snakemake(wd)
    assert res.returncode == 0, res.stderr[-3000:]
    html = (wd / "results" / "report.html").read_text()
    assert "<script>alert(" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co" in html
    # the sample title reaches the plotly hover text escaped (inside the figure JSON)
    assert "&lt;script&gt;alert(&#x27;title&#x27;)&lt;\\u002fscript&gt;" in html


def test_impossible_tests_are_explained_in_place(tmp_path):
    """One response class and an unscorable set: the report says why, where the plot would be."""
    def one_class(cohort):
        # every treated patient responds (the placebo arm keeps SD/PD, so the declared
        # non-responder values still occur: strict mapping would stop on values matching none)
        treated = cohort.clinical["treatment"] == "sorafenib"
        cohort.clinical.loc[treated, "best_response"] = "PR"

    wd = make_workdir(tmp_path, local_cohort_config(tmp_path, mutate=one_class))
    res = run_snakemake(wd)
    assert res.returncode == 0, res.stderr[-3000:]
    stats = pd.read_csv(wd / "results" / "statistics.tsv", sep="\t")
    resp = stats[(stats.endpoint == "response") & (stats.analysis == "auc")]
    assert (resp.status == "not tested").all()
    assert resp.note.str.contains("0 non-responders").all()
    html = (wd / "results" / "report.html").read_text()
    assert "No response test was possible" in html
    assert "Response not tested in local" in html and "0 non-responders" in html
    assert "Not scored in local" in html and "FERROPTOSIS_DEFENCE_GSH_INDEPENDENT" in html


@pytest.mark.parametrize("method", ["mean_z", "ssgsea"])
def test_resistance_score_predicts_benefit_not_prognosis(stats, method):
    """Planted: the resistance factor lowers response under sorafenib only (not placebo)."""
    r = row(stats, method, demo.RESISTANCE_SET, "response")
    assert r.p_interaction < 0.001
    assert r.or_treated < 0.5 and r.or_control > 0.7
    null = row(stats, method, demo.NULL_SET, "response")
    assert null.p_interaction > 0.05


def test_survival_extras_on_demo(stats):
    r = row(stats, "mean_z", demo.NRF2_SET, "os")
    assert r.maxstat_p < 0.001 and r.maxstat_p > r.km_logrank_p / 1e6
    assert r.n_adj == 300 and abs(r.hr_adj - r.estimate) < 0.15     # stage, age: no effect
    assert r.td_auc_36_ci_low < r.td_auc_36 < r.td_auc_36_ci_high and r.td_auc_36 > 0.6
    null = row(stats, "mean_z", demo.NULL_SET, "os")
    assert null.maxstat_p > 0.05


def test_gene_level_in_the_demo(stats, demo_run):
    """Gene rows (docs/genes.md): GCH1's planted protective effect (PLANTED_RISK, log HR -0.25
    per SD in both cohorts) pooled, the resistance genes' response AUC, the 3-gene unscored set's
    genes present, and the report's Genes section with the seed genes first."""
    g = stats[stats.analysis.str.startswith("gene_", na=False)]
    assert set(g.method) == {"expression"}
    gch1 = g[(g.gene == "GCH1") & (g.endpoint == "os")
             & (g.analysis == "gene_cox_hr_per_sd")].set_index("cohort")
    assert (gch1.loc[["demo", "demo_validation"], "ci_high"] < 1).all()
    # pooled over k = 2 cohorts (REML + HKSJ: t with 1 df, a wide CI): the estimate only
    assert gch1.loc["pooled", "estimate"] < 1 and gch1.loc["pooled", "n_cohorts"] == 2
    assert (gch1["set"] == "FERROPTOSIS_DEFENCE_GSH_INDEPENDENT").all()
    for gene in ("STIM1", "KDELR3"):  # SORAFENIB_RESISTANCE loads the resistance factor
        r = g[(g.gene == gene) & (g.cohort == "demo") & (g.analysis == "gene_auc")].iloc[0]
        assert r.ci_high < 0.5 and r.q < 0.05
    for gene in ("AIFM2", "DHODH"):
        assert (g[g.gene == gene].status == "ok").all()
    html = (demo_run / "results" / "report.html").read_text()
    seed, sets = html.index('id="genes-seed"'), html.index('id="genes-sets"')
    assert html.index('id="genes"') < seed < html.index("STIM1", seed) < sets
    assert (demo_run / "results" / "demo" / "genes" / "drivers.tsv").is_file()


def test_leave_one_out_full_set_hr_equals_the_set_row(stats, demo_run):
    """drivers.tsv's hr_set (batch engine, LOO scoring call) is the survival step's HR of the
    set (lifelines, score step) for the primary method: same scores, same model."""
    d = pd.read_csv(demo_run / "results" / "demo" / "genes" / "drivers.tsv", sep="\t")
    assert set(d["method"]) == {"mean_z"} and (d["status"] == "ok").all()
    for set_name, hr in d.drop_duplicates("set").set_index("set")["hr_set"].items():
        assert row(stats, "mean_z", set_name, "os").estimate == pytest.approx(hr, rel=1e-8)
