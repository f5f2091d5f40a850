"""Unit tests of the static figures (matplotlib): files written, and what is drawn."""

from __future__ import annotations

import re

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from ferroscope import figures

from .test_report import SETS, synthetic


@pytest.fixture()
def drawn(monkeypatch):
    """Capture the figure each function saves (after also writing the real files)."""
    got = []
    real = figures._save

    def keep(fig, png, svg):
        got.append(fig)
        real(fig, png, svg)

    monkeypatch.setattr(figures, "_save", keep)
    return got


def svg_texts(path) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", path.read_text())


def test_forest_writes_png_and_svg_with_labels(tmp_path, drawn):
    stats, _ = synthetic()
    png, svg = tmp_path / "f.png", tmp_path / "f.svg"
    figures.forest(stats, "mean_z", "cox_hr_per_sd", png, svg)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and mpimg.imread(png).shape[2] == 4
    assert svg.read_text().lstrip().startswith("<?xml")
    texts = svg_texts(svg)
    assert "hazard ratio per SD (95% CI)" in texts
    assert "NRF2_TARGETS · c&lt;1&gt; · os" in texts  # label text, XML-escaped in the SVG
    ax = drawn[0].axes[0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "1.1", "1.25", "1.5", "1.75", "2"]
    # first row at the bottom, as in the report: sets read A-Z from the top
    assert [t.get_text() for t in ax.get_yticklabels()] == ["SET_<b>BOLD</b> · c<1> · os",
                                                            "NRF2_TARGETS · c<1> · os"]
    assert ax.collections[-1].get_offsets()[:, 0].tolist() == [2.5, 1.5]  # one square a row
    assert not list(tmp_path.glob("*.part*")) and not list(tmp_path.glob("*.tmp*"))


def test_forest_pooled_estimate_is_a_diamond_below_its_cohorts(tmp_path, drawn):
    stats, _ = synthetic()
    pooled = stats.iloc[[0]].assign(cohort="pooled", n_cohorts=2, estimate=1.7, ci_low=1.3,
                                    ci_high=2.2, tau2=0.01, i2=0.2)
    stats = pd.concat([stats, pooled], ignore_index=True)
    figures.forest(stats, "mean_z", "cox_hr_per_sd", tmp_path / "p.png", tmp_path / "p.svg")
    ax = drawn[0].axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["SET_<b>BOLD</b> · c<1> · os", "NRF2_TARGETS · pooled (2 cohorts) · os",
                      "NRF2_TARGETS · c<1> · os"]
    squares, diamonds = ax.collections[-2], ax.collections[-1]
    assert diamonds.get_offsets().tolist() == [[1.7, 1.0]]
    assert squares.get_offsets().tolist() == [[2.5, 0.0], [1.5, 2.0]]


def test_forest_auc_axis_and_empty_case(tmp_path, drawn):
    stats, _ = synthetic()
    figures.forest(stats, "mean_z", "auc", tmp_path / "a.png", tmp_path / "a.svg")
    ax = drawn[0].axes[0]
    assert ax.get_xlim() == (0.0, 1.0) and ax.get_xlabel() == "AUC for response (95% DeLong CI)"
    figures.forest(stats, "gsva", "auc", tmp_path / "e.png", tmp_path / "e.svg")
    assert "no test possible" in svg_texts(tmp_path / "e.svg")


def panels(draw, tmp_path, drawn, name, **kwargs):
    """Draw one cohort's panels (synthetic cohort, mean_z) and return the visible axes."""
    stats, data = synthetic()
    draw(data.clinical, data.scores["mean_z"], stats, "c<1>", "mean_z",
         tmp_path / f"{name}.png", tmp_path / f"{name}.svg", **kwargs)
    return [ax for ax in drawn[0].axes if ax.get_visible()]


def test_km_panels_one_panel_per_set_two_curves_each(tmp_path, drawn):
    axes = panels(figures.km_panels, tmp_path, drawn, "k")
    assert len(axes) == len(SETS)
    for ax, name in zip(axes, SETS, strict=True):
        assert [ln.get_label() for ln in ax.get_lines()] == ["high score", "low score"]
        assert ax.get_title() == f"{name}\nlog-rank p = 0.012"
        assert ax.get_ylabel() == "overall survival"
        # survival curves start at 1 and never rise
        for ln in ax.get_lines():
            y = np.asarray(ln.get_ydata(), dtype=float)
            assert y[0] == 1.0 and np.all(np.diff(y) <= 0)
    assert "c&lt;1&gt;: OS by median mean_z score" in svg_texts(tmp_path / "k.svg")


def test_roc_panels_titles_carry_the_auc(tmp_path, drawn):
    axes = panels(figures.roc_panels, tmp_path, drawn, "r", arm="sorafenib")
    assert [ax.get_title() for ax in axes] == [f"{s}\nAUC 0.71 (0.55-0.87)" for s in SETS]
    for ax in axes:
        assert len(ax.get_lines()) == 2  # diagonal + ROC step curve
        fpr, tpr = ax.get_lines()[1].get_data()
        assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert "c&lt;1&gt;: response (arm sorafenib)" in svg_texts(tmp_path / "r.svg")


def test_panels_and_forest_draw_the_detail_tier_only(tmp_path, drawn):
    stats, data = synthetic()
    stats["tier"] = np.where(stats["set"] == SETS[0], "screening", "detail")
    figures.km_panels(data.clinical, data.scores["mean_z"], stats, "c<1>", "mean_z",
                      tmp_path / "k.png", tmp_path / "k.svg")
    axes = [ax for ax in drawn[0].axes if ax.get_visible()]
    assert [ax.get_title().split("\n")[0] for ax in axes] == [SETS[1]]
    figures.forest(stats, "mean_z", "cox_hr_per_sd", tmp_path / "f.png", tmp_path / "f.svg")
    labels = [t.get_text() for t in drawn[1].axes[0].get_yticklabels()]
    assert labels == [f"{SETS[1]} · c<1> · os"]
