"""Provenance: software versions and input checksums (in logs, h5ad files and the report)."""

from __future__ import annotations

import datetime as _dt
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from . import __version__
from .io import sha256sum

PACKAGES = ("ferroscope", "snakemake", "numpy", "pandas", "scipy", "anndata", "scanpy",
            "gseapy", "lifelines", "plotly", "jinja2", "jsonschema")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = __version__ if pkg == "ferroscope" else "not installed"
    return out


def file_record(path: str | Path, role: str = "") -> dict[str, Any]:
    p = Path(path)
    st = p.stat()
    return {"path": str(p), "role": role, "bytes": st.st_size, "sha256": sha256sum(p),
            "modified": _dt.datetime.fromtimestamp(st.st_mtime, _dt.UTC).isoformat(
                timespec="seconds")}


def record(inputs: dict[str, str | Path], params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A provenance record for one step: when, which software, which inputs (sha256)."""
    return {
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "software": versions(),
        "inputs": [file_record(p, role) for role, p in inputs.items()],
        "params": params or {},
    }
