"""Downloads against a loopback mirror of the public host serving real files, with faults."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from ferroscope.download import fetch, manifest_path
from ferroscope.errors import FerroscopeError

from .conftest import shared_path
from .mirror import Mirror

MATRIX = "geo/series/GSE14nnn/GSE14520/matrix/GSE14520-GPL571_series_matrix.txt.gz"
CDR = "tcga/TCGA-LIHC_CDR_survival.tsv"


@pytest.fixture()
def mirror(tmp_path):
    root = tmp_path / "host"
    for rel, src in ((MATRIX, ("GSE14520", "GSE14520-GPL571_series_matrix.txt.gz")),
                     (CDR, ("TCGA-LIHC", "derived_TCGA-LIHC_CDR_survival.tsv"))):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared_path("cohorts", *src), root / rel)
    with Mirror(root) as m:
        yield m


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith((".part", ".tmp")))


def test_clean_download_writes_manifest_and_is_not_repeated(mirror, tmp_path):
    dest = tmp_path / "dl" / "matrix.txt.gz"
    fetch(f"{mirror.url}/{MATRIX}", dest, backoff=0.01)
    assert sha(dest) == sha(mirror.root / MATRIX)
    meta = json.loads(manifest_path(dest).read_text())
    assert meta["sha256"] == sha(dest) and meta["bytes"] == dest.stat().st_size
    n = len(mirror.requests)
    fetch(f"{mirror.url}/{MATRIX}", dest, backoff=0.01)
    assert len(mirror.requests) == n  # up to date: no request


@pytest.mark.parametrize("rel", [MATRIX, CDR])
def test_dropped_connection_resumes_with_range(mirror, tmp_path, rel):
    mirror.faults["/" + rel] = ["drop"]
    dest = tmp_path / "dl" / rel.rsplit("/", 1)[1]
    fetch(f"{mirror.url}/{rel}", dest, backoff=0.01)
    assert sha(dest) == sha(mirror.root / rel)
    ranges = [r for p, r in mirror.requests if p == "/" + rel]
    assert ranges[0] is None and ranges[1] is not None and ranges[1].startswith("bytes=")
    assert leftovers(tmp_path / "dl") == []


@pytest.mark.parametrize("fault", ["truncate", "corrupt", 503])
def test_bad_gzip_or_server_error_is_fetched_again(mirror, tmp_path, fault):
    mirror.faults["/" + MATRIX] = [fault, fault]
    dest = tmp_path / "dl" / "m.txt.gz"
    fetch(f"{mirror.url}/{MATRIX}", dest, backoff=0.01)
    assert sha(dest) == sha(mirror.root / MATRIX)
    assert len([p for p, _ in mirror.requests if p == "/" + MATRIX]) == 3
    assert leftovers(tmp_path / "dl") == []


def test_404_is_one_clear_error_and_leaves_nothing(mirror, tmp_path):
    dest = tmp_path / "dl" / "GSE99999999_series_matrix.txt.gz"
    url = f"{mirror.url}/geo/series/GSE99999nnn/GSE99999999/matrix/{dest.name}"
    with pytest.raises(FerroscopeError, match=r"GSE99999999.*does not exist.*HTTP 404.*Fix"):
        fetch(url, dest, backoff=0.01, field="cohorts.x.accession")
    assert len(mirror.requests) == 1  # not retried
    assert not dest.exists() and leftovers(tmp_path) == []


def test_persistent_truncation_gives_up_with_a_clear_error(mirror, tmp_path):
    mirror.faults["/" + MATRIX] = ["truncate"] * 10
    dest = tmp_path / "dl" / "m.txt.gz"
    with pytest.raises(FerroscopeError, match=r"after 3 attempts: corrupt or truncated gzip"):
        fetch(f"{mirror.url}/{MATRIX}", dest, retries=3, backoff=0.01)
    assert not dest.exists() and not manifest_path(dest).exists()
    assert leftovers(tmp_path / "dl") == []


def test_stale_file_without_manifest_is_replaced(mirror, tmp_path):
    dest = tmp_path / "dl" / "m.txt.gz"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"half a file from an interrupted older tool")
    fetch(f"{mirror.url}/{MATRIX}", dest, backoff=0.01)
    assert sha(dest) == sha(mirror.root / MATRIX)
