"""Shared HTML helpers of the report: escaping, JSON for the page's script, number
formatting and the house style of every plotly figure (one ``<div>`` per figure).
"""

from __future__ import annotations

import html
import json
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def escape(text: object) -> str:
    """HTML-escape public text for a :class:`Section`'s markup."""
    return _esc(text)


def json_for_script(obj: object) -> str:
    """JSON safe inside ``<script type="application/json">``: ``<``, ``>``, ``&`` escaped."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_TEMPLATE: dict[str, Any] = {}


def _fig_html(fig: go.Figure, div_id: str, *, top: int = 50, own_margin: bool = False) -> str:
    """The figure as a ``<div>`` in the house style (plotly.js is in the page head once):
    white template, Helvetica 12, margins 60/20/``top``/50 (``own_margin``: a margin the
    figure sets wins over the house one; otherwise the house margin wins).

    The house style is merged into the figure's JSON rather than through ``update_layout``,
    and the JSON is not validated a second time: plotly copies and re-validates its whole
    template on every layout update, which cost seconds per figure at collection scale.
    """
    if not _TEMPLATE:
        _TEMPLATE.update(pio.templates["plotly_white"].to_plotly_json())
    spec = fig.to_plotly_json()
    layout = spec.setdefault("layout", {})
    layout["template"] = _TEMPLATE
    house = {"l": 60, "r": 20, "t": top, "b": 50}
    own = layout.get("margin", {})
    layout["margin"] = {**house, **own} if own_margin else {**own, **house}
    layout["font"] = {**layout.get("font", {}), "family": "Helvetica, Arial, sans-serif",
                      "size": 12}
    return pio.to_html(spec, full_html=False, include_plotlyjs=False, div_id=div_id,
                       validate=False, config={"displaylogo": False, "responsive": True})


def _fmt(value: object, digits: int = 3) -> str:
    """Numbers for tables: empty for NaN, scientific for very small or large values."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_) or not isinstance(value, float | np.floating):
        return str(value)
    v = float(value)
    if np.isnan(v):
        return ""
    if v != 0 and (abs(v) < 10.0 ** -digits or abs(v) >= 1e5):
        return f"{v:.{digits - 1}e}"
    if abs(v) < 1:
        return f"{v:.{digits}g}"
    return f"{v:.{digits}f}".rstrip("0").rstrip(".")
