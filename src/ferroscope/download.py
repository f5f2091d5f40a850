"""Downloads from public hosts: streamed, retried with back-off, resumed, checked, atomic.

``fetch(url, dest)`` guarantees that ``dest`` either does not exist or is the complete file:

* the body streams into ``dest.part`` (a progress bar on stderr, from ``Content-Length``);
* a dropped connection resumes with an HTTP ``Range`` request when the server answers 206, and
  restarts from zero otherwise; 5xx answers and network errors are retried with exponential
  back-off (``retries`` attempts, waits ``backoff * 2**k`` seconds);
* a short body (fewer bytes than ``Content-Length``) and, for ``.gz`` files, a gzip stream that
  does not decompress to its end (truncated or corrupt: CRC and length are checked) are
  discarded and fetched again, never parsed;
* only then is ``dest.part`` renamed to ``dest`` (atomic on one file system) and a manifest
  ``dest.sha256.json`` written beside it (url, bytes, sha256, time), which later steps and the
  report use as provenance. A file whose manifest matches is not downloaded again.

A 404 (or 410) is not retried: it ends in one :class:`FerroscopeError` naming the URL, the
config field that produced it and the likely fix (a wrong accession or file name).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
import zlib
from datetime import UTC, datetime
from pathlib import Path

from .errors import FerroscopeError

log = logging.getLogger(__name__)

CHUNK = 1 << 16
USER_AGENT = "ferroscope (https://github.com/; HCC cohort download)"


class _Retryable(Exception):
    """A failure worth another attempt (network, 5xx, short or corrupt body)."""


def manifest_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".sha256.json")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_gzip(path: Path) -> None:
    """Decompress to the end (CRC and length checked); raise _Retryable when it fails."""
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(1 << 20):
                pass
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise _Retryable(f"corrupt or truncated gzip ({exc})") from exc


def is_current(dest: Path, url: str) -> bool:
    """True when dest exists with a manifest for the same URL and a matching checksum."""
    man = manifest_path(dest)
    if not dest.exists() or not man.exists():
        return False
    try:
        meta = json.loads(man.read_text())
    except ValueError:
        return False
    return meta.get("url") == url and meta.get("bytes") == dest.stat().st_size and (
        meta.get("sha256") == sha256_of(dest))


def _progress(total: int | None, initial: int, name: str):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, desc=name,
                file=sys.stderr, mininterval=1.0, disable=None)


def _attempt(url: str, part: Path, timeout: float, field: str | None) -> None:
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code in (404, 410):
            raise FerroscopeError(
                f"{url} does not exist on the server (HTTP {exc.code}).", field=field,
                fix="check the accession / file name in config (GEO accessions look like "
                    "GSE14520, platforms GPL571), or the mirror's base URL.") from exc
        if exc.code == 416 and have:  # our partial file is already complete or bogus
            part.unlink()
            raise _Retryable("range not satisfiable; restarting") from exc
        if exc.code >= 500 or exc.code == 429:
            raise _Retryable(f"HTTP {exc.code}") from exc
        raise FerroscopeError(f"{url}: HTTP {exc.code} {exc.reason}.", field=field,
                              fix="check the URL or the server's access rules.") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        raise _Retryable(f"connection failed ({exc})") from exc
    with resp:
        resumed = resp.status == 206
        if have and not resumed:
            have = 0  # server ignored Range: start over
        length = resp.headers.get("Content-Length")
        expected = have + int(length) if length is not None else None
        with open(part, "ab" if resumed else "wb") as out, \
                _progress(expected, have, part.name.removesuffix(".part")) as bar:
            try:
                while block := resp.read(CHUNK):
                    out.write(block)
                    bar.update(len(block))
            except (TimeoutError, ConnectionError, OSError, urllib.error.URLError) as exc:
                raise _Retryable(f"connection dropped ({exc})") from exc
    size = part.stat().st_size
    if expected is not None and size != expected:
        raise _Retryable(f"short body: {size} of {expected} bytes")


def fetch(url: str, dest: str | Path, *, retries: int = 5, backoff: float = 1.0,
          timeout: float = 60.0, field: str | None = None, force: bool = False) -> Path:
    """Download ``url`` to ``dest`` (see the module docstring); returns ``dest``."""
    dest = Path(dest)
    if not force and is_current(dest, url):
        log.info("%s is up to date (sha256 in %s)", dest, manifest_path(dest).name)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last = ""
    for attempt in range(1, retries + 1):
        try:
            _attempt(url, part, timeout, field)
            if dest.name.endswith(".gz"):
                try:
                    check_gzip(part)
                except _Retryable:
                    part.unlink()  # a resumed tail cannot repair a corrupt stream
                    raise
            digest = sha256_of(part)
            size = part.stat().st_size
            os.replace(part, dest)
            _write_manifest(dest, url, size, digest)
            log.info("downloaded %s (%d bytes, sha256 %s)", url, size, digest)
            return dest
        except _Retryable as exc:
            last = str(exc)
            if attempt < retries:
                wait = backoff * 2 ** (attempt - 1)
                log.warning("%s: %s; retry %d of %d in %.1f s", url, exc, attempt,
                            retries - 1, wait)
                time.sleep(wait)
    if part.exists():
        part.unlink()
    raise FerroscopeError(f"could not download {url} after {retries} attempts: {last}.",
                          field=field,
                          fix="check the network or the server, then run the workflow again "
                              "(finished downloads are kept).")


def _write_manifest(dest: Path, url: str, size: int, digest: str) -> None:
    man = manifest_path(dest)
    tmp = man.with_name(man.name + ".tmp")
    tmp.write_text(json.dumps({"url": url, "bytes": size, "sha256": digest,
                               "fetched": datetime.now(UTC).isoformat(timespec="seconds")},
                              indent=1) + "\n")
    os.replace(tmp, man)
