"""The demo report and a 700-set collection report in a real headless Chromium: sections,
rendered figures, sortable and filterable tables, no console errors, no network, screenshots.
Needs Debian's chromium (tests/install-system-deps.sh) and playwright."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from .conftest import demo_config, run_snakemake

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SECTIONS = ["summary", "cohorts", "coverage", "survival", "response", "correlation", "statistics",
            "genesets", "methods", "provenance"]


def open_offline(browser, path: Path):
    """A page showing ``path`` with every request but file:// refused, and its problems."""
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    context.route("**/*", lambda route: (requests.append(route.request.url),
                                          route.continue_() if route.request.url.startswith(
                                              "file://") else route.abort()))
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.goto(path.as_uri())
    return context, page, requests, problems


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (Debian package chromium)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def test_demo_report_renders_offline(browser, demo_run, tmp_path_factory):
    report = demo_run / "results" / "report.html"
    context, page, requests, problems = open_offline(browser, report)
    n_divs = page.evaluate("[...document.querySelectorAll('.plotly-graph-div')]"
                           ".filter(d => !d.closest('#risk') && !d.closest('#tissue')"
                           " && !d.closest('#genes')).length")
    n_all = page.evaluate("document.querySelectorAll('.plotly-graph-div').length")
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n_all}",
        timeout=30000)
    # every figure rendered: volcano and forest (OS, AUC) per method; KM + heatmap per cohort;
    # response box + ROC per cohort with response labels (counted from the run's config)
    cfg = demo_config()
    cohorts = cfg["cohorts"]
    n_response = sum(1 for c in cohorts.values() if c.get("clinical", {}).get("response"))
    expected = 4 * len(cfg["scoring"]["methods"]) + 2 * len(cohorts) + 2 * n_response
    rendered = page.evaluate(
        "[...document.querySelectorAll('.plotly-graph-div')]"
        ".filter(d => !d.closest('#risk') && !d.closest('#tissue')"
        " && !d.closest('#genes')"
        " && d.classList.contains('js-plotly-plot')"
        " && d.data.length > 0 && d.querySelector('svg.main-svg') !== null).length")
    assert n_divs == expected and rendered == n_divs, (n_divs, rendered, expected)
    # the risk-signature section (its own count: forests, td-ROC, calibration, KM per cohort)
    risk_divs, risk_rendered = page.evaluate(
        "(() => { const ds = [...document.querySelectorAll('#risk .plotly-graph-div')];"
        " return [ds.length, ds.filter(d => d.classList.contains('js-plotly-plot')"
        " && d.data.length > 0 && d.querySelector('svg.main-svg') !== null).length]; })()")
    if cfg.get("signatures", {}).get("files") or cfg.get("models"):
        assert risk_divs >= 2 and risk_rendered == risk_divs, (risk_divs, risk_rendered)
    # the tissue comparison (ferroscope.report.tissue) draws its own figures: all rendered
    tissue_divs, tissue_rendered = page.evaluate(
        "(() => { const ds = [...document.querySelectorAll('#tissue .plotly-graph-div')];"
        " return [ds.length, ds.filter(d => d.classList.contains('js-plotly-plot')"
        " && d.data.length > 0 && d.querySelector('svg.main-svg') !== null).length]; })()")
    assert tissue_rendered == tissue_divs, (tissue_divs, tissue_rendered)
    # so does the gene-level section (ferroscope.report.genes): seed forests, per-set panels
    genes_divs, genes_rendered = page.evaluate(
        "(() => { const ds = [...document.querySelectorAll('#genes .plotly-graph-div')];"
        " return [ds.length, ds.filter(d => d.classList.contains('js-plotly-plot')"
        " && d.data.length > 0 && d.querySelector('svg.main-svg') !== null).length]; })()")
    assert genes_divs >= 1 and genes_rendered == genes_divs, (genes_divs, genes_rendered)
    for section in SECTIONS:
        assert page.locator(f"section#{section} h2").count() == 1
    assert not problems, problems
    assert all(u.startswith("file://") for u in requests), requests
    # the at-risk table is drawn under the KM curves, and the set menu switches curves
    km = page.locator("#km-0")
    assert km.locator("text", has_text="at risk").count() >= 1
    before = page.evaluate("document.getElementById('km-0').layout.title.text")
    # apply the second menu entry exactly as the dropdown does
    after, visible = page.evaluate("""() => {
        const gd = document.getElementById('km-0');
        const b = gd.layout.updatemenus[0].buttons[1];
        const layout = Object.assign({'updatemenus[0].active': 1}, b.args[1]);
        return Plotly.update(gd, b.args[0], layout).then(
            () => [gd.layout.title.text, gd.data.filter(t => t.visible === true).length]);
    }""")
    assert before != after and visible == 4     # 2 curves + 2 at-risk rows of the new set
    shots = tmp_path_factory.mktemp("screenshots")
    page.locator("#forest-os-mean_z").screenshot(path=str(shots / "forest.png"))
    km.screenshot(path=str(shots / "km.png"))
    page.screenshot(path=str(shots / "report.png"), full_page=True)
    assert (shots / "km.png").stat().st_size > 10_000
    out = Path("results") / "screenshots"
    if out.parent.exists():
        shutil.copytree(shots, out, dirs_exist_ok=True)
    context.close()


def test_collection_report_tables_sort_and_filter(browser, tmp_path):
    """A 700-set x 3-method x 2-cohort report (tests/test_report.py's synthetic collection):
    under 10 MB, every figure drawn, and the statistics table sorts on a header click and
    filters as one types."""
    from .test_report import collection, render_collection

    stats, cohorts = collection()
    path = tmp_path / "collection.html"
    path.write_text(render_collection(stats, cohorts), encoding="utf-8")
    assert path.stat().st_size < 10e6
    context, page, requests, problems = open_offline(browser, path)
    n_divs = page.evaluate("document.querySelectorAll('.plotly-graph-div').length")
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n_divs}",
        timeout=60000)
    assert n_divs == 6 + 6 + 2 * 4   # volcanoes, forests, KM + box + ROC + heatmap per cohort
    assert page.evaluate("document.querySelector('main section').id") == "summary"
    box = page.locator("#statistics div.ftable")
    info = box.locator(".ftable-info")
    assert info.inner_text() == f"rows 1-50 of {len(stats)}"
    assert box.locator("tbody tr").count() == 50

    def column(name: str) -> list[str]:
        k = page.evaluate(f"[...document.querySelectorAll('#statistics th')]"
                          f".findIndex(th => th.textContent === '{name}')")
        return box.locator(f"tbody tr td:nth-child({k + 1})").all_inner_texts()

    # sort by q: ascending, then descending on a second click
    box.locator("th[data-col='q']").click()
    q_up = [float(v) for v in column("q")]
    assert q_up == sorted(q_up) and q_up[0] == pytest.approx(stats["q"].min(), rel=1e-3)
    assert column("set")[0] == "PLANTED"
    box.locator("th[data-col='q']").click()
    q_down = [float(v) for v in column("q")]
    assert q_down == sorted(q_down, reverse=True)
    # filter: a word matches any cell; col<value and col=value filter one column
    box.locator("input.ftable-filter").fill("PLANTED")
    n_planted = int((stats["set"] == "PLANTED").sum())
    assert info.inner_text() == f"rows 1-{n_planted} of {n_planted} (filtered from {len(stats)})"
    box.locator("input.ftable-filter").fill("q<0.05 method=gsva")
    n_sig = int(((stats["q"] < 0.05) & (stats["method"] == "gsva")).sum())
    assert info.inner_text().endswith(f"of {n_sig} (filtered from {len(stats)})")
    assert set(column("method")) == {"gsva"}
    box.locator("input.ftable-filter").fill("")
    box.locator(".ftable-next").click()
    assert info.inner_text() == f"rows 51-100 of {len(stats)}"
    assert not problems, problems
    assert all(u.startswith("file://") for u in requests), requests
    page.screenshot(path=str(tmp_path / "collection.png"))
    context.close()


def test_static_figures_written_beside_report(demo_run):
    figs = demo_run / "results" / "figures"
    for name in ("forest_cox_hr_per_sd_mean_z", "forest_auc_ssgsea", "km_demo", "roc_demo"):
        assert (figs / f"{name}.png").stat().st_size > 5_000
        assert (figs / f"{name}.svg").read_text().lstrip().startswith("<?xml")


def test_snakemake_report_zip(demo_run):
    res = run_snakemake(demo_run, "--report", "report.zip")
    assert res.returncode == 0, res.stderr[-3000:]
    names = zipfile.ZipFile(demo_run / "report.zip").namelist()
    assert any(n.endswith("statistics.tsv") for n in names)
    assert any(n.endswith("km_demo.png") for n in names)
