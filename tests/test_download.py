"""Downloads against a loopback mirror (127.0.0.1) serving synthetic files, with faults injected.

The files are built by the tests (``mirror.build_host``: a ~3 MB gzipped series matrix and a
survival TSV), so everything here runs on a fresh clone; only the check on the real GEO matrix
needs ``../shared`` (marked ``shared``). Every waiting fault is bounded by small limits: each
test stops by itself within seconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

from ferroscope.config import validate_config
from ferroscope.download import Limits, fetch, manifest_path
from ferroscope.errors import FerroscopeError
from ferroscope.logs import step_logging

from .conftest import REPO, demo_config, shared_path
from .mirror import MATRIX, TABLE, Mirror, build_host

FAST = Limits(retries=5, backoff_seconds=0.01, timeout_seconds=5, deadline_seconds=30,
              min_bytes_per_second=0, min_speed_window_seconds=1, progress_seconds=0.5)


@pytest.fixture(scope="session")
def host(tmp_path_factory: pytest.TempPathFactory):
    return build_host(tmp_path_factory.mktemp("host"))


@pytest.fixture()
def mirror(host):
    with Mirror(host) as m:
        yield m


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith((".part", ".tmp")))


def nothing_written(folder) -> bool:
    return not folder.exists() or not any(folder.rglob("*"))


def test_clean_download_writes_manifest_and_is_not_repeated(mirror, tmp_path):
    dest = tmp_path / "dl" / "matrix.txt.gz"
    fetch(f"{mirror.url}/{MATRIX}", dest, limits=FAST)
    assert dest.stat().st_size > 2_000_000 and sha(dest) == sha(mirror.root / MATRIX)
    meta = json.loads(manifest_path(dest).read_text())
    assert meta["sha256"] == sha(dest) and meta["bytes"] == dest.stat().st_size
    assert meta["url"] == f"{mirror.url}/{MATRIX}"
    n = len(mirror.requests)
    fetch(f"{mirror.url}/{MATRIX}", dest, limits=FAST)
    assert len(mirror.requests) == n  # up to date: no request


def test_file_url_mirror(host, tmp_path):
    dest = tmp_path / "dl" / "t.tsv"
    fetch((host / TABLE).as_uri(), dest, limits=FAST)
    assert sha(dest) == sha(host / TABLE)


@pytest.mark.bad_input
@pytest.mark.parametrize("rel", [MATRIX, TABLE])
def test_dropped_connection_resumes_with_range(mirror, tmp_path, rel, caplog):
    mirror.faults["/" + rel] = ["drop"]
    dest = tmp_path / "dl" / rel.rsplit("/", 1)[1]
    with caplog.at_level(logging.WARNING, logger="ferroscope.download"):
        fetch(f"{mirror.url}/{rel}", dest, limits=FAST)
    assert sha(dest) == sha(mirror.root / rel)
    ranges = [r for p, r in mirror.requests if p == "/" + rel]
    assert ranges[0] is None and ranges[1] is not None and ranges[1].startswith("bytes=")
    assert int(ranges[1][6:].split("-")[0]) == (mirror.root / rel).stat().st_size // 2
    assert "short body" in caplog.text or "connection dropped" in caplog.text
    assert leftovers(tmp_path / "dl") == []


@pytest.mark.bad_input
@pytest.mark.parametrize("fault", ["truncate", "corrupt", 503])
def test_bad_gzip_or_server_error_is_fetched_again(mirror, tmp_path, fault, caplog):
    mirror.faults["/" + MATRIX] = [fault, fault]
    dest = tmp_path / "dl" / "m.txt.gz"
    with caplog.at_level(logging.WARNING, logger="ferroscope.download"):
        fetch(f"{mirror.url}/{MATRIX}", dest, limits=FAST)
    assert sha(dest) == sha(mirror.root / MATRIX)
    assert len([p for p, _ in mirror.requests if p == "/" + MATRIX]) == 3
    assert caplog.text.count("retry") == 2
    assert leftovers(tmp_path / "dl") == []


@pytest.mark.bad_input
def test_404_is_one_clear_error_and_leaves_nothing(mirror, tmp_path):
    dest = tmp_path / "dl" / "GSE99999999_series_matrix.txt.gz"
    url = f"{mirror.url}/geo/series/GSE99999nnn/GSE99999999/matrix/{dest.name}"
    with pytest.raises(FerroscopeError, match=r"GSE99999999.*does not exist.*HTTP 404.*Fix"):
        fetch(url, dest, limits=FAST, field="cohorts.x.accession")
    assert len(mirror.requests) == 1  # not retried
    assert not dest.exists() and leftovers(tmp_path) == []


@pytest.mark.bad_input
def test_persistent_truncation_gives_up_with_a_clear_error(mirror, tmp_path):
    mirror.faults["/" + MATRIX] = ["truncate"] * 10
    dest = tmp_path / "dl" / "m.txt.gz"
    with pytest.raises(FerroscopeError, match=r"after 3 attempts: corrupt or truncated gzip.*Fix"):
        fetch(f"{mirror.url}/{MATRIX}", dest, limits=FAST, retries=3)
    assert not dest.exists() and not manifest_path(dest).exists()
    assert leftovers(tmp_path / "dl") == []


def test_stale_file_without_manifest_is_replaced(mirror, tmp_path):
    dest = tmp_path / "dl" / "m.txt.gz"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"half a file from an interrupted older tool")
    fetch(f"{mirror.url}/{MATRIX}", dest, limits=FAST)
    assert sha(dest) == sha(mirror.root / MATRIX)


@pytest.mark.bad_input
def test_trickle_stops_at_the_deadline(mirror, tmp_path):
    """One byte every 0.2 s, minimum-speed rule off: the 2 s deadline ends it (was: days)."""
    mirror.faults["/" + MATRIX] = ["trickle"] * 5
    dest = tmp_path / "dl" / "m.txt.gz"
    url = f"{mirror.url}/{MATRIX}"
    limits = Limits(retries=5, backoff_seconds=0.01, timeout_seconds=2, deadline_seconds=2,
                    min_bytes_per_second=0, progress_seconds=0.5)
    t0 = time.monotonic()
    with pytest.raises(FerroscopeError) as err:
        fetch(url, dest, limits=limits, field="cohorts.GSE1000", mirror_key="geo")
    took = time.monotonic() - t0
    assert 1.9 < took < 4.5, took
    msg = str(err.value)
    assert url in msg and "download.deadline_seconds = 2 s" in msg and "cohorts.GSE1000" in msg
    assert "Fix:" in msg and "mirrors.geo" in msg and "raise download.deadline_seconds" in msg
    assert len(mirror.requests) == 1
    assert nothing_written(tmp_path / "dl")  # no file, no manifest, no 0-byte .part


@pytest.mark.bad_input
def test_trickle_fails_the_minimum_speed_rule(mirror, tmp_path, caplog):
    """Rate below min_bytes_per_second over the window: each attempt is cut after ~1 s."""
    mirror.faults["/" + TABLE] = ["trickle"] * 5
    dest = tmp_path / "dl" / "t.tsv"
    url = f"{mirror.url}/{TABLE}"
    limits = Limits(retries=2, backoff_seconds=0.01, timeout_seconds=2, deadline_seconds=20,
                    min_bytes_per_second=1000, min_speed_window_seconds=1, progress_seconds=0.5)
    t0 = time.monotonic()
    with caplog.at_level(logging.INFO, logger="ferroscope.download"), \
            pytest.raises(FerroscopeError) as err:
        fetch(url, dest, limits=limits, field="cohorts.TCGA", mirror_key="gdc_api")
    took = time.monotonic() - t0
    assert 1.9 < took < 5, took
    msg = str(err.value)
    assert url in msg and "after 2 attempts" in msg and "bytes/s over the last 1 s" in msg
    assert "download.min_bytes_per_second = 1000" in msg and "min_speed_window_seconds" in msg
    assert "Fix:" in msg and "mirrors.gdc_api" in msg and "0 turns the rule off" in msg
    assert len(mirror.requests) == 2
    assert "retry 1 of 1" in caplog.text
    assert nothing_written(tmp_path / "dl")


@pytest.mark.bad_input
@pytest.mark.parametrize("rel", [MATRIX, TABLE])
def test_empty_200_is_refused(mirror, tmp_path, rel):
    mirror.faults["/" + rel] = ["empty"]
    dest = tmp_path / "dl" / rel.rsplit("/", 1)[1]
    url = f"{mirror.url}/{rel}"
    with pytest.raises(FerroscopeError) as err:
        fetch(url, dest, limits=FAST, field="cohorts.c", mirror_key="geo")
    msg = str(err.value)
    assert url in msg and "empty body (0 bytes)" in msg and "cohorts.c" in msg
    assert "Fix:" in msg and "mirrors.geo" in msg
    assert len(mirror.requests) == 1
    assert nothing_written(tmp_path / "dl")


@pytest.mark.bad_input
@pytest.mark.parametrize(("rel", "fault", "what"), [(MATRIX, "html", "a gzip file"),
                                                    (TABLE, "html", "a text table"),
                                                    (MATRIX, "html_disguised", "a gzip file"),
                                                    (TABLE, "html_disguised", "a text table")])
def test_html_page_is_refused(mirror, tmp_path, rel, fault, what):
    mirror.faults["/" + rel] = [fault]
    dest = tmp_path / "dl" / rel.rsplit("/", 1)[1]
    url = f"{mirror.url}/{rel}"
    with pytest.raises(FerroscopeError) as err:
        fetch(url, dest, limits=FAST, field="cohorts.c", mirror_key="xena_gdc")
    msg = str(err.value)
    assert url in msg and "HTML page ('502 Bad Gateway')" in msg and f"where {what}" in msg
    assert "Fix:" in msg and "mirrors.xena_gdc" in msg and "browser" in msg
    assert len(mirror.requests) == 1  # an error page is not retried into a manifest
    assert nothing_written(tmp_path / "dl")


def test_progress_lines_reach_the_rule_log_during_a_slow_download(mirror, tmp_path):
    """A 3 s download: progress lines (bytes, rate, ETA) land in the step's log file."""
    mirror.faults["/" + MATRIX] = ["slow"]
    dest = tmp_path / "dl" / "m.txt.gz"
    log_file = tmp_path / "logs" / "fetch.log"
    with step_logging(log_file, "fetch"):
        fetch(f"{mirror.url}/{MATRIX}", dest, limits=FAST)
    logging.getLogger().handlers.clear()  # step_logging configured the root logger
    assert sha(dest) == sha(mirror.root / MATRIX)
    lines = [ln for ln in log_file.read_text().splitlines() if " progress " in ln]
    mid = [ln for ln in lines if "ETA" in ln and "B/s" in ln and " of " in ln]
    assert len(mid) >= 4, lines  # ~3 s at one line per 0.5 s
    assert "(100%)" in lines[-1]
    stamps = [ln.split(" INFO")[0] for ln in mid]
    assert len(set(stamps)) >= 3  # spread over the download, not printed at the end only


@pytest.mark.bad_input
@pytest.mark.parametrize(("url", "problem"), [
    ("ftp.ncbi.nlm.nih.gov/geo", "has no scheme"),
    ("localhost:8000/geo", "has no scheme"),
    ("https://", "names no host"),
    ("ftp://ftp.ncbi.nlm.nih.gov/geo", "unsupported scheme 'ftp'"),
])
def test_mirror_url_is_checked_with_the_config(tmp_path, url, problem):
    cfg = demo_config()
    cfg["mirrors"] = {"geo": url}
    with pytest.raises(FerroscopeError) as err:
        validate_config(cfg, schema_dir=REPO / "workflow" / "schemas", base_dir=REPO)
    msg = str(err.value)
    assert "config/config.yaml" in msg and "mirrors.geo" in msg and problem in msg
    assert "Fix: give an absolute URL such as https://" in msg


def test_download_defaults_are_the_schema_defaults():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    props = schema["properties"]["download"]["properties"]
    assert Limits.from_config({k: v["default"] for k, v in props.items()}) == Limits()
    assert set(props) == set(Limits.__dataclass_fields__)


@pytest.mark.shared
def test_real_geo_matrix_through_the_mirror(tmp_path):
    """The real GSE14520-GPL571 series matrix: dropped once, resumed, gzip-checked."""
    rel = "geo/series/GSE14nnn/GSE14520/matrix/GSE14520-GPL571_series_matrix.txt.gz"
    root = tmp_path / "host"
    (root / rel).parent.mkdir(parents=True)
    shutil.copy(shared_path("cohorts", "GSE14520", "GSE14520-GPL571_series_matrix.txt.gz"),
                root / rel)
    with Mirror(root) as m:
        m.faults["/" + rel] = ["drop"]
        dest = tmp_path / "dl" / "GSE14520-GPL571_series_matrix.txt.gz"
        fetch(f"{m.url}/{rel}", dest, limits=FAST)
    assert sha(dest) == sha(root / rel)
    assert leftovers(tmp_path / "dl") == []


def _run_fetch_script(mirror, tmp_path, rel: str, download: dict) -> subprocess.Popen:
    """workflow/scripts/fetch.py in its own process, with the object Snakemake would inject."""
    snake = {"params": {"url": f"{mirror.url}/{rel}", "download": download,
                        "mirrors": {"geo": f"{mirror.url}/geo", "gdc_api": "https://x.org/d"}},
             "output": [str(tmp_path / "dl" / rel.rsplit("/", 1)[1])],
             "log": [str(tmp_path / "logs" / "fetch.log")], "wildcards": {"cohort": "GSE1000"}}
    code = ("import json, runpy, sys, types\n"
            f"sys.path[:0] = [{str(REPO / 'workflow' / 'scripts')!r}, {str(REPO / 'src')!r}]\n"
            f"d = json.loads({json.dumps(snake)!r})\n"
            "sm = types.SimpleNamespace(params=types.SimpleNamespace(**d['params']),\n"
            "    output=d['output'], log=d['log'],\n"
            "    wildcards=types.SimpleNamespace(**d['wildcards']))\n"
            f"runpy.run_path({str(REPO / 'workflow' / 'scripts' / 'fetch.py')!r},\n"
            "               init_globals={'snakemake': sm}, run_name='__main__')\n")
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_fetch_script_logs_progress_and_names_the_mirror_key(mirror, tmp_path):
    mirror.faults["/" + MATRIX] = ["slow", "empty"]
    opts = {**FAST.__dict__, "progress_seconds": 0.5}
    proc = _run_fetch_script(mirror, tmp_path, MATRIX, opts)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-2000:]
    log = (tmp_path / "logs" / "fetch.log").read_text()
    assert "fetching http://127.0.0.1" in log and "deadline 30 s" in log
    assert len(re.findall(r"progress .*ETA", log)) >= 4
    # the same script on an empty body: one error naming the cohort and mirrors.geo
    (tmp_path / "dl" / "GSE1000_series_matrix.txt.gz").unlink()
    proc = _run_fetch_script(mirror, tmp_path, MATRIX, opts)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1
    log = (tmp_path / "logs" / "fetch.log").read_text()
    assert "field 'cohorts.GSE1000'" in log and "empty body" in log and "mirrors.geo" in log
    assert leftovers(tmp_path / "dl") == []


@pytest.mark.slow
@pytest.mark.bad_input
def test_sigterm_to_the_fetch_script_leaves_no_part(mirror, tmp_path):
    mirror.faults["/" + MATRIX] = ["trickle"]
    proc = _run_fetch_script(mirror, tmp_path, MATRIX, {**FAST.__dict__})
    part = tmp_path / "dl" / "GSE1000_series_matrix.txt.gz.part"
    for _ in range(600):  # bounded (30 s): the .part appears once the first bytes arrive
        if part.exists() and part.stat().st_size > 0:
            break
        time.sleep(0.05)
    assert part.exists()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=10)
    assert proc.returncode == 128 + signal.SIGTERM
    assert nothing_written(tmp_path / "dl")
