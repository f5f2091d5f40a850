"""Unit tests of the report helpers on small synthetic inputs (no workflow run)."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest

from ferroscope import report
from ferroscope.download import manifest_path
from ferroscope.errors import FerroscopeError
from ferroscope.report import CohortData, _esc, _fmt, _time_grid

PAYLOAD = "<script>alert('x')</script>"
SETS = ["NRF2_TARGETS", "SET_<b>BOLD</b>"]


@pytest.mark.parametrize("value,text", [
    (None, ""), (float("nan"), ""), (np.float64("nan"), ""),
    (0.0001234, "1.23e-04"), (123456.0, "1.23e+05"), (0.0, "0"),
    (0.12345, "0.123"), (0.5, "0.5"), (1.5, "1.5"), (2.0, "2"), (12.3456, "12.346"),
    (-0.04321, "-0.0432"), (True, "True"), (np.bool_(False), "False"), (7, "7"), ("ok", "ok"),
])
def test_fmt_numbers_for_tables(value, text):
    assert _fmt(value) == text


def test_esc_escapes_markup_and_quotes():
    assert _esc(PAYLOAD) == "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
    assert _esc('a "b" & c') == "a &quot;b&quot; &amp; c"


def test_time_grid_yearly_then_two_yearly():
    assert _time_grid(30.0) == [0.0, 12.0, 24.0]
    assert _time_grid(36.0) == [0.0, 12.0, 24.0, 36.0]
    assert _time_grid(130.0) == [0.0, 24.0, 48.0, 72.0, 96.0, 120.0]


def synthetic(n: int = 40, seed: int = 3) -> tuple[pd.DataFrame, CohortData]:
    rng = np.random.default_rng(seed)
    ids = [f"S{i:02d}" for i in range(n)]
    clin = pd.DataFrame({
        "os_time_months": rng.uniform(1, 60, n), "os_event": rng.integers(0, 2, n).astype(float),
        "response": np.tile([1.0, 0.0], n // 2),
        "arm": "sorafenib", "title": [PAYLOAD if i == 0 else f"tumour {i}" for i in range(n)],
    }, index=pd.Index(ids, name="sample_id"))
    scores = pd.DataFrame(rng.normal(size=(n, 2)), index=clin.index, columns=SETS)
    coverage = pd.DataFrame({"cohort": "c<1>", "set": SETS, "n_genes": [10, 8],
                             "n_present": [10, 8], "coverage": [1.0, 1.0], "scored": [True, True],
                             "reason": "", "missing": ""})
    rows = []
    for k, s in enumerate(SETS):
        rows.append({"cohort": "c<1>", "method": "mean_z", "set": s, "endpoint": "os",
                     "analysis": "cox_hr_per_sd", "estimate": 1.5 + k, "ci_low": 1.2,
                     "ci_high": 2.0 + k, "p": 0.001, "q": 0.002, "status": "ok", "note": "",
                     "n": n, "km_logrank_p": 0.0123, "maxstat_p": 0.04, "n_cohorts": np.nan,
                     "tau2": np.nan, "i2": np.nan})
        rows.append({"cohort": "c<1>", "method": "mean_z", "set": s, "endpoint": "response",
                     "analysis": "auc", "estimate": 0.71, "ci_low": 0.55, "ci_high": 0.87,
                     "p": 0.03, "q": 0.2, "status": "ok", "note": "", "n": n,
                     "n_cohorts": np.nan, "tau2": np.nan, "i2": np.nan})
    stats = pd.DataFrame(rows)
    data = CohortData(cohort="c<1>", clinical=clin, coverage=coverage,
                      scores={"mean_z": scores}, description=f"desc {PAYLOAD}",
                      platform="<i>GPL</i>", n_genes=100, response_arm="sorafenib")
    return stats, data


def plotly_figures(page: str) -> list[dict]:
    """The figure JSON objects passed to Plotly.newPlot in the page."""
    out = []
    pattern = r'Plotly\.newPlot\(\s*"([^"]+)",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{"displaylogo"'
    for m in re.finditer(pattern, page, flags=re.S):
        out.append({"id": m.group(1), "data": json.loads(m.group(2)),
                    "layout": json.loads(m.group(3))})
    return out


def values(v) -> list:
    """A plotly data array: a list, or (plotly >= 6) a base64 typed array."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)


def test_forest_plot_traces_labels_and_axis():
    stats, _ = synthetic()
    div = report.forest_plot(stats, "mean_z", "cox_hr_per_sd", "f1")
    fig = plotly_figures(div)[0]
    assert fig["id"] == "f1" and len(fig["data"]) == 1
    trace = fig["data"][0]
    assert trace["y"] == ["SET_&lt;b&gt;BOLD&lt;/b&gt; · c&lt;1&gt; · os",
                          "NRF2_TARGETS · c&lt;1&gt; · os"]
    assert values(trace["x"]) == [2.5, 1.5]
    assert fig["layout"]["xaxis"]["type"] == "log"
    auc = plotly_figures(report.forest_plot(stats, "mean_z", "auc", "f2"))[0]
    assert auc["layout"]["xaxis"]["range"] == [0, 1]
    assert report.forest_plot(stats, "gsva", "auc", "f3") is None  # nothing to draw


def test_km_and_roc_figures_one_visible_set_and_escaped_titles():
    stats, data = synthetic()
    km = plotly_figures(report.km_figure(data, "mean_z", stats, "km"))[0]
    assert len(km["data"]) == 4 * len(SETS)  # high/low curves + two at-risk rows per set
    assert [t.get("visible") for t in km["data"]][:4] == [True] * 4
    assert "log-rank p = 0.0123" in km["layout"]["title"]["text"]
    menu = km["layout"]["updatemenus"][0]["buttons"]
    assert [b["label"] for b in menu] == ["NRF2_TARGETS", "SET_&lt;b&gt;BOLD&lt;/b&gt;"]
    roc = plotly_figures(report.roc_figure(data, "mean_z", stats, "roc"))[0]
    assert len(roc["data"]) == len(SETS) + 1  # one curve per set + the diagonal
    assert "AUC 0.71 (0.55-0.87)" in roc["layout"]["title"]["text"]


def test_render_escapes_public_metadata_everywhere():
    stats, data = synthetic()
    cfg = {"scoring": {"methods": ["mean_z"], "primary": "mean_z"},
           "genesets": {"min_coverage": 0.5, "min_genes": 5},
           "survival": {"endpoints": ["os"], "min_events": 10, "n_boot": 0},
           "response": {"min_per_class": 5}, "report": {"title": "T <b>&</b>"}}
    genes = [{"symbol": "GPX4", "set": SETS[1], "role": "defence", "source": PAYLOAD,
              "evidence": "e", "note": ""}]
    page = report.render(stats, [data], cfg, genesets=genes, inputs=[], software={"x": "1"},
                         created="2026-01-01T00:00:00+00:00",
                         downloads=[{"cohort": "c<1>", "file": "f.gz", "url": "http://h/<x>",
                                     "bytes": 10, "sha256": "ab", "fetched": "2026"}])
    assert "<script>alert(" not in page
    assert "desc &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "<title>T &lt;b&gt;&amp;&lt;/b&gt;</title>" in page
    assert "<i>GPL</i>" not in page and "&lt;i&gt;GPL&lt;/i&gt;" in page
    assert "http://h/&lt;x&gt;" in page  # download record escaped in the provenance table
    # the sample title reaches the box plot's hover text HTML-escaped inside the JSON
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;\\u002fscript&gt;" in page


def test_download_records_from_manifests(tmp_path):
    got = tmp_path / "GSE1_series_matrix.txt.gz"
    got.write_bytes(b"abc")
    manifest_path(got).write_text(json.dumps({"url": "https://h/GSE1", "bytes": 3,
                                              "sha256": "d" * 64, "fetched": "2026-11-26"}))
    by_hand = tmp_path / "table.tsv"
    by_hand.write_bytes(b"abc")
    recs = report.download_records("C", [got, by_hand])
    assert recs[0] == {"cohort": "C", "file": got.name, "url": "https://h/GSE1", "bytes": 3,
                       "sha256": "d" * 64, "fetched": "2026-11-26"}
    # sha256("abc"), a known value
    assert recs[1]["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert recs[1]["url"] == "" and "no download record" in recs[1]["fetched"]


@pytest.mark.bad_input
def test_unreadable_download_record_is_named(tmp_path):
    got = tmp_path / "a.gz"
    got.write_bytes(b"x")
    manifest_path(got).write_text('{"url": "u"}')
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(FerroscopeError) as err:
        report.download_records("C", [got])
    msg = str(err.value)
    assert "a.gz.sha256.json" in msg and "unreadable" in msg and "fetch the file anew" in msg
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_methods_section_lists_each_methods_declared_summary_and_reference():
    from ferroscope.report import method_table
    from ferroscope.scoring import gsva

    rows = method_table(["mean_z", "gsva"])
    assert [r["name"] for r in rows] == ["mean_z", "gsva"]
    assert rows[1]["summary"] == gsva.METHOD.summary and "Hänzelmann" in rows[1]["reference"]
    with pytest.raises(FerroscopeError, match="unknown scoring method 'nope'") as err:
        method_table(["mean_z", "nope"])  # not dropped in silence
    assert "ssgsea" in str(err.value)


# --- A collection-scale report: ~700 sets x 3 methods x 2 cohorts, screening and detail tiers ---

METHODS = ["mean_z", "ssgsea", "gsva"]
N_SETS = 700
DETAIL = {"SET_0007", "SET_0123", "SET_0456", "PLANTED"}  # detail tier in every cohort x method


def collection(n: int = 120, seed: int = 11) -> tuple[pd.DataFrame, list[CohortData]]:
    """Statistics and cohorts of a 700-set collection; PLANTED has the strongest OS effect."""
    rng = np.random.default_rng(seed)
    sets = ["PLANTED"] + [f"SET_{k:04d}" for k in range(1, N_SETS)]
    rows, cohorts = [], []
    for c in ("cohortA", "cohortB"):
        ids = [f"{c}_{i:03d}" for i in range(n)]
        clin = pd.DataFrame({"os_time_months": rng.uniform(1, 80, n),
                             "os_event": rng.integers(0, 2, n).astype(float),
                             "response": np.tile([1.0, 0.0], n // 2)},
                            index=pd.Index(ids, name="sample_id"))
        scores = {m: pd.DataFrame(rng.normal(size=(n, N_SETS)), index=clin.index, columns=sets)
                  for m in METHODS}
        coverage = pd.DataFrame({"set": sets, "n_genes": 20, "n_present": 18, "coverage": 0.9,
                                 "scored": True, "reason": "", "missing": "A1BG, A2M"})
        cohorts.append(CohortData(cohort=c, clinical=clin, coverage=coverage, scores=scores,
                                  n_genes=12_000))
    for m in METHODS:
        for c in ("cohortA", "cohortB", "pooled"):
            hr = np.exp(rng.normal(0, 0.1, N_SETS))
            hr[0] = 1.6
            se = np.full(N_SETS, 0.1)
            p = np.where(np.arange(N_SETS) == 0, 1e-8, rng.uniform(0.001, 1, N_SETS))
            auc = rng.uniform(0.4, 0.6, N_SETS)
            detail = np.isin(sets, list(DETAIL))
            base = {"cohort": c, "method": m, "set": sets, "status": "ok", "note": "",
                    "n": 2 * n if c == "pooled" else n,
                    "n_cohorts": 2.0 if c == "pooled" else np.nan,
                    "tau2": 0.0 if c == "pooled" else np.nan,
                    "i2": 0.0 if c == "pooled" else np.nan,
                    "tier": np.where(detail, "detail", "screening")}
            os_rows = pd.DataFrame({**base, "endpoint": "os", "analysis": "cox_hr_per_sd",
                                    "estimate": hr, "ci_low": hr * np.exp(-1.96 * se),
                                    "ci_high": hr * np.exp(1.96 * se), "p": p,
                                    "events": n // 2,
                                    "km_logrank_p": np.where(detail, 0.0321, np.nan),
                                    "maxstat_p": np.where(detail, 0.04, np.nan),
                                    "ph_p": np.where(detail, 0.5, np.nan)})
            rows.append(os_rows)
            if c != "pooled":
                rows.append(pd.DataFrame({**base, "endpoint": "response", "analysis": "auc",
                                          "estimate": auc, "ci_low": auc - 0.1,
                                          "ci_high": auc + 0.1,
                                          "p": rng.uniform(0.001, 1, N_SETS)}))
    from ferroscope.statistics import add_fdr
    return add_fdr(pd.concat(rows, ignore_index=True)), cohorts


def render_collection(stats, cohorts, **kw) -> str:
    cfg = {"scoring": {"methods": METHODS, "primary": "mean_z"},
           "genesets": {"min_coverage": 0.5, "min_genes": 5},
           "survival": {"endpoints": ["os"], "min_events": 10, "n_boot": 0},
           "response": {"min_per_class": 5}, "report": {"title": "collection"}}
    return report.render(stats, cohorts, cfg, genesets=[], inputs=[], software={},
                         created="2026-01-01T00:00:00+00:00", **kw)


def json_blob(page: str, blob_id: str) -> dict:
    m = re.search(rf'<script type="application/json" id="{blob_id}">(.*?)</script>', page,
                  flags=re.S)
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def big():
    stats, cohorts = collection()
    return stats, cohorts, render_collection(stats, cohorts)


def test_collection_report_is_small_and_opens_with_the_summary(big):
    stats, _, page = big
    assert len(stats) == 3 * (3 * N_SETS + 2 * N_SETS)  # OS in 2 cohorts + pooled, response x 2
    assert len(page.encode()) < 10e6, len(page.encode()) / 1e6
    main = page[page.index("<main>"):]
    assert re.search(r'<section id="([^"]+)"', main).group(1) == "summary"
    summary = main[:main.index("</section>")]
    # pooled estimates first: the planted set, pooled, in words and numbers
    # PLANTED: p = 1e-8 in each family of 700 pooled tests, so q = 7e-6
    assert ("higher PLANTED scores went with shorter survival, HR 1.60 (1.32-1.95) per SD, "
            "q = 7.00e-06, pooled over 2 cohorts.") in summary
    first = re.search(r"<tr class=\"sig\"><td>(.*?)</td><td>(.*?)</td>", summary)
    assert first.groups() == ("PLANTED", "pooled")
    assert "ssgsea 1.6 (q 7.00e-06); gsva 1.6 (q 7.00e-06)" in summary


def test_collection_report_one_volcano_per_method_and_endpoint(big):
    stats, _, page = big
    figs = {f["id"]: f for f in plotly_figures(page)}
    volcanoes = sorted(k for k in figs if k.startswith("volcano-"))
    assert volcanoes == sorted(f"volcano-{ep}-{m}" for m in METHODS for ep in ("os", "response"))
    v = figs["volcano-os-mean_z"]
    n_points = sum(len(values(t["x"])) for t in v["data"])
    assert n_points == 3 * N_SETS   # every set x (2 cohorts + pooled), screening ones included
    assert [t["name"] for t in v["data"]] == ["per cohort, q < 0.05", "per cohort",
                                              "pooled (random effects), q < 0.05",
                                              "pooled (random effects)"]
    rows = stats[(stats["method"] == "mean_z") & (stats["endpoint"] == "os")]
    n_sig = [len(values(t["x"])) for t in v["data"] if t["name"].endswith("q < 0.05")]
    assert n_sig == [int(((rows["cohort"] != "pooled") & (rows["q"] < 0.05)).sum()), 1]
    assert v["data"][2]["text"] == ["PLANTED · pooled · detail tier"]
    assert any(a["text"] == "PLANTED" for a in v["layout"]["annotations"])


def test_collection_report_per_set_figures_only_for_the_detail_tier(big):
    stats, _, page = big
    figs = {f["id"]: f for f in plotly_figures(page)}
    for m in METHODS:
        labels = figs[f"forest-os-{m}"]["data"][0]["y"]
        assert {lab.split(" · ")[0] for lab in labels} == DETAIL
        assert len(labels) == 3 * len(DETAIL)  # 2 cohorts + pooled each
        assert {lab.split(" · ")[0] for lab in figs[f"forest-auc-{m}"]["data"][0]["y"]} == DETAIL
    for i in range(2):
        km = [b["label"] for b in figs[f"km-{i}"]["layout"]["updatemenus"][0]["buttons"]]
        assert km[0] == "PLANTED" and set(km) == DETAIL   # smallest q first
        roc = [b["label"] for b in figs[f"roc-{i}"]["layout"]["updatemenus"][0]["buttons"]]
        assert set(roc) == DETAIL
        assert set(figs[f"heat-{i}"]["data"][0]["x"]) == DETAIL
    assert "SET_0008" not in "".join(json.dumps(f["layout"]) for k, f in figs.items()
                                     if not k.startswith("volcano"))


def test_collection_report_tables_hold_every_row(big):
    stats, cohorts, page = big
    table = json_blob(page, "stats-data")
    assert len(table["rows"]) == len(stats) and len(table["warn"]) == len(stats)
    cols = table["columns"]
    assert cols[:5] == ["cohort", "method", "set", "endpoint", "tier"]
    got = pd.DataFrame(table["rows"], columns=cols)
    pd.testing.assert_series_equal(got["set"], stats["set"].reset_index(drop=True),
                                   check_names=False)
    # numbers to 4 significant digits; screening rows keep detail columns empty (null)
    np.testing.assert_allclose(got["estimate"].astype(float), stats["estimate"], rtol=5e-4)
    screening = (stats["tier"] == "screening").to_numpy()
    assert got.loc[screening, "km_logrank_p"].isna().all()
    assert (got.loc[~screening & (stats["endpoint"] == "os").to_numpy(), "km_logrank_p"]
            == 0.0321).all()
    assert "<tr" not in page[page.index('id="statistics"'):page.index('id="genesets"')]
    cov = json_blob(page, "coverage-data")
    assert len(cov["rows"]) == sum(len(c.coverage) for c in cohorts)


def test_collection_report_caps_detail_figures():
    stats, cohorts = collection(n=40)
    stats["tier"] = "detail"
    page = render_collection(stats, cohorts, max_figure_sets=12)
    figs = {f["id"]: f for f in plotly_figures(page)}
    assert len(figs["km-0"]["layout"]["updatemenus"][0]["buttons"]) == 12
    assert len({lab.split(" · ")[0] for lab in figs["forest-os-gsva"]["data"][0]["y"]}) == 12
    assert "the 12 with the smallest q are drawn" in page


def test_missing_tier_column_counts_as_detail():
    from ferroscope.plotdata import detail_sets, is_detail

    stats, _ = synthetic()
    assert is_detail(stats).all()
    assert detail_sets(stats, "mean_z", endpoint="os") == ["NRF2_TARGETS", "SET_<b>BOLD</b>"]
    stats["tier"] = ["screening", "detail", "detail", "screening"]
    assert detail_sets(stats, "mean_z", endpoint="os") == ["SET_<b>BOLD</b>"]
    assert detail_sets(stats, "mean_z", endpoint="response") == ["NRF2_TARGETS"]


def test_table_json_escapes_markup_and_keeps_numbers():
    frame = pd.DataFrame({"set": ["</script><b>x</b>&"], "q": [0.000123456], "n": [12.0],
                          "e": [float("nan")]})
    text = report.json_for_script(report.table_json(frame, ["set", "q", "n", "e"]))
    assert "<" not in text and ">" not in text and "&" not in text
    data = json.loads(text)
    assert data["rows"] == [["</script><b>x</b>&", 0.0001235, 12, None]]
    assert data["numeric"] == [False, True, True, True]


def test_extra_sections_placed_and_linked():
    stats, data = synthetic()
    cfg = {"scoring": {"methods": ["mean_z"], "primary": "mean_z"},
           "genesets": {"min_coverage": 0.5, "min_genes": 5},
           "survival": {"endpoints": ["os"], "min_events": 10, "n_boot": 0},
           "response": {"min_per_class": 5}}
    extra = report.Section(id="genes", title="Genes", html=f"<p>{report.escape(PAYLOAD)}</p>",
                           after="survival")
    page = report.render(stats, [data], cfg, genesets=[], inputs=[], software={},
                         created="c", sections=[extra])
    ids = re.findall(r'<section id="([^"]+)"', page)
    assert ids.index("genes") == ids.index("survival") + 1
    assert '<a href="#genes">Genes</a>' in page and "<script>alert(" not in page
    with pytest.raises(ValueError, match="after='nowhere'"):
        report.render(stats, [data], cfg, genesets=[], inputs=[], software={}, created="c",
                      sections=[report.Section("x", "X", "", after="nowhere")])


def test_summary_and_volcanoes_are_about_outcomes_only():
    """Rows of other analyses (tumour vs non-tumour) have their own section: no volcano, no
    summary sentence, no tier count from them."""
    stats, data = synthetic()
    tissue_row = {"cohort": "c<1>", "method": "mean_z", "set": "NRF2_TARGETS",
                  "endpoint": "tissue", "analysis": "tumour_vs_nontumour", "estimate": 3.0,
                  "ci_low": 2.0, "ci_high": 4.0, "p": 1e-9, "q": 1e-9, "status": "ok",
                  "note": "", "n": 40}
    stats = pd.concat([stats, pd.DataFrame([tissue_row])], ignore_index=True)
    summary = report.summary_section(stats, ["mean_z"], "mean_z")
    assert [e["endpoint"] for e in summary["endpoints"]] == ["os", "response"]
    assert [v["endpoint"] for v in report.volcano_section(stats, ["mean_z"])] == ["os",
                                                                                  "response"]
    assert report.tier_counts(stats, "mean_z", 40)["detail"] == 4
