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
