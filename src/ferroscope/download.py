"""Downloads from public hosts: streamed, bounded in time, retried, resumed, checked, atomic.

``fetch(url, dest)`` guarantees that ``dest`` either does not exist or is the complete file:

* the body streams into ``dest.part``; a progress line (bytes, rate, ETA; tqdm) goes to the
  step's log every ``progress_seconds`` while bytes arrive;
* time is bounded three ways (config ``download:``): each socket read waits at most
  ``timeout_seconds``; an attempt whose rate over the last ``min_speed_window_seconds`` stays
  below ``min_bytes_per_second`` is aborted (a server that trickles a byte every few seconds);
  the whole file, retries and back-off included, must arrive within ``deadline_seconds``;
* a dropped connection resumes with an HTTP ``Range`` request when the server answers 206 from
  the right offset, and restarts from zero otherwise; 5xx answers, network errors and slow
  attempts are retried with exponential back-off (``retries`` attempts, waits
  ``backoff * 2**k`` seconds, never past the deadline);
* a short body (fewer bytes than ``Content-Length``) and, for ``.gz`` files, a gzip stream that
  does not decompress to its end (truncated or corrupt: CRC and length are checked) are
  discarded and fetched again, never parsed;
* an empty body (HTTP 200 with 0 bytes) and an HTML page where a gzip or text table was expected
  (an error or login page) end in one :class:`FerroscopeError`, not in a manifest;
* only then is ``dest.part`` renamed to ``dest`` (atomic on one file system) and a manifest
  ``dest.sha256.json`` written beside it (url, bytes, sha256, time). A file whose manifest
  matches is not downloaded again. After a failure no ``.part`` is left behind.

A 404 (or 410) is not retried: it ends in one :class:`FerroscopeError` naming the URL, the
config field that produced it and the likely fix (a wrong accession or file name).
"""

from __future__ import annotations

import collections
import dataclasses
import gzip
import json
import logging
import re
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import FerroscopeError
from .io import atomic_open, sha256sum

log = logging.getLogger(__name__)

CHUNK = 1 << 16
USER_AGENT = "ferroscope (https://github.com/; HCC cohort download)"
GZIP_MAGIC = b"\x1f\x8b"
_HTML_START = re.compile(rb"^\s*(<!doctype\s+html|<html|<head|<body|<\?xml[^>]*>\s*<!doctype"
                         rb"\s+html)", re.IGNORECASE)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Limits:
    """Time and retry limits of one download; field names are the ``download:`` config keys.

    Defaults equal the schema's (``workflow/schemas/config.schema.yaml``, where the choice is
    explained): a 6 h deadline per file, 10 kB/s minimum over 120 s, 60 s per socket read.
    """

    retries: int = 5
    backoff_seconds: float = 2.0
    timeout_seconds: float = 60.0
    deadline_seconds: float = 21600.0
    min_bytes_per_second: float = 10240.0
    min_speed_window_seconds: float = 120.0
    progress_seconds: float = 5.0

    @classmethod
    def from_config(cls, opts: Mapping[str, Any]) -> Limits:
        """The limits from the validated ``download:`` config section (unknown keys ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in opts.items() if k in names})


class _Retryable(Exception):
    """A failure worth another attempt (network, 5xx, short, slow or corrupt body)."""


class _TooSlow(_Retryable):
    """The rate over the minimum-speed window fell below ``min_bytes_per_second``."""


class _Deadline(Exception):
    """The file's overall deadline passed."""


def manifest_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".sha256.json")


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
        meta.get("sha256") == sha256sum(dest))


class _LogLines:
    """A file object for tqdm that turns each refreshed status line into one log record."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.last = ""

    def write(self, text: str) -> None:
        for line in re.split(r"[\r\n]+", text):
            line = line.strip()
            if line and line != self.last:
                self.last = line
                self.logger.info("progress %s", line)

    def flush(self) -> None:
        pass


def _progress(total: int | None, initial: int, name: str, every: float):
    """A tqdm bar that writes a line (bytes, rate, ETA) to the log at most every ``every`` s."""
    from tqdm import tqdm

    fmt = ("{desc}: {n_fmt}B of {total_fmt}B ({percentage:.0f}%), {rate_fmt}, "
           "elapsed {elapsed}, ETA {remaining}") if total else \
        "{desc}: {n_fmt}B, {rate_fmt}, elapsed {elapsed} (size unknown)"
    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
                desc=name, file=_LogLines(log), mininterval=every, maxinterval=every,
                miniters=1, disable=False, bar_format=fmt, dynamic_ncols=False, ascii=True)


class _Clock:
    """Overall deadline of one file plus the sliding-window minimum-speed rule of one attempt."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.end = time.monotonic() + limits.deadline_seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def check_deadline(self) -> None:
        if self.remaining() <= 0:
            raise _Deadline

    def speed_meter(self) -> _SpeedMeter:
        return _SpeedMeter(self.limits.min_bytes_per_second,
                           self.limits.min_speed_window_seconds)


class _SpeedMeter:
    """Bytes per second over the last ``window`` seconds; raises _TooSlow below ``floor``.

    Samples (time, bytes so far) older than the window are dropped except the newest of them,
    so the rate is measured over at least ``window`` seconds of this attempt.
    """

    def __init__(self, floor: float, window: float) -> None:
        self.floor, self.window = floor, window
        self.samples: collections.deque[tuple[float, int]] = collections.deque(
            [(time.monotonic(), 0)])

    def add(self, got: int) -> None:
        now = time.monotonic()
        self.samples.append((now, got))
        while len(self.samples) > 1 and self.samples[1][0] <= now - self.window:
            self.samples.popleft()
        t0, b0 = self.samples[0]
        if self.floor > 0 and now - t0 >= self.window:
            rate = (got - b0) / (now - t0)
            if rate < self.floor:
                raise _TooSlow(f"{rate:.1f} bytes/s over the last {now - t0:.0f} s, below "
                               f"download.min_bytes_per_second = {self.floor:g} "
                               f"(window download.min_speed_window_seconds = {self.window:g})")


def _attempt(url: str, part: Path, clock: _Clock, field: str | None) -> str | None:
    """One request; appends to or rewrites ``part``. Returns the Content-Type."""
    limits = clock.limits
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        req.add_header("Range", f"bytes={have}-")
    timeout = max(0.1, min(limits.timeout_seconds, clock.remaining()))
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code in (404, 410):
            raise FerroscopeError(
                f"{url} does not exist on the server (HTTP {exc.code}).", field=field,
                fix="check the accession / file name in config (GEO accessions look like "
                    "GSE14520, platforms GPL571), or the mirror's base URL (mirrors:).") from exc
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
        if resumed:
            m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range") or "")
            resumed = bool(m) and int(m.group(1)) == have
        if have and not resumed:
            have = 0  # server ignored Range (or answered another one): start over
        length = resp.headers.get("Content-Length")
        expected = have + int(length) if length is not None else None
        meter = clock.speed_meter()
        got = 0
        with open(part, "ab" if have else "wb") as out, \
                _progress(expected, have, part.name.removesuffix(".part"),
                          limits.progress_seconds) as bar:
            try:
                # read1: return what has arrived instead of waiting for a full chunk, so that
                # a trickle is measured (read() would block until 64 KiB came in).
                while block := resp.read1(CHUNK):
                    out.write(block)
                    got += len(block)
                    bar.update(len(block))
                    clock.check_deadline()
                    meter.add(got)
            except (TimeoutError, ConnectionError, OSError, urllib.error.URLError) as exc:
                raise _Retryable(f"connection dropped ({exc})") from exc
        content_type = resp.headers.get("Content-Type")
    size = part.stat().st_size
    if expected is not None and size != expected:
        raise _Retryable(f"short body: {size} of {expected} bytes")
    return content_type


def _check_body(url: str, part: Path, dest: Path, content_type: str | None,
                field: str | None, fix_url: str) -> None:
    """Refuse an empty body and an HTML page where a table (gzip or text) was expected."""
    size = part.stat().st_size
    if size == 0:
        raise FerroscopeError(
            f"{url} answered with an empty body (0 bytes) where "
            f"{'a gzip file' if dest.name.endswith('.gz') else 'a table'} was expected; "
            "nothing was saved.", field=field,
            fix=f"{fix_url} If the URL is right, the host is failing: run the workflow again "
                "later.")
    with open(part, "rb") as fh:
        head = fh.read(4096)
    looks_html = bool(_HTML_START.match(head.lstrip(b"\xef\xbb\xbf")))
    if not head.startswith(GZIP_MAGIC) and (
            looks_html or (content_type or "").lower().startswith("text/html")):
        m = _TITLE.search(head)
        title = re.sub(r"\s+", " ", m.group(1).decode("utf-8", "replace")).strip()[:100] \
            if m else ""
        raise FerroscopeError(
            f"{url} returned an HTML page{f' ({title!r})' if title else ''} where "
            f"{'a gzip file' if dest.name.endswith('.gz') else 'a text table'} was expected "
            "(an error or login page); nothing was saved.", field=field,
            fix=f"{fix_url} Open the URL in a browser to see the page.")


def fetch(url: str, dest: str | Path, *, limits: Limits | None = None,
          retries: int | None = None, backoff: float | None = None,
          timeout: float | None = None, field: str | None = None,
          mirror_key: str | None = None, force: bool = False) -> Path:
    """Download ``url`` to ``dest`` (see the module docstring); returns ``dest``.

    ``limits`` carries the ``download:`` config (``Limits.from_config``); ``retries``,
    ``backoff`` and ``timeout`` override single fields. ``field`` (e.g. ``cohorts.X``) and
    ``mirror_key`` (e.g. ``geo`` for ``mirrors.geo``) are named in error messages.
    """
    lim = limits or Limits()
    over = {k: v for k, v in (("retries", retries), ("backoff_seconds", backoff),
                              ("timeout_seconds", timeout)) if v is not None}
    if over:
        lim = dataclasses.replace(lim, **over)
    dest = Path(dest)
    if not force and is_current(dest, url):
        log.info("%s is up to date (sha256 in %s)", dest, manifest_path(dest).name)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    fix_url = (f"check the URL: its base comes from mirrors.{mirror_key} and the rest from "
               f"the cohort's accession / file name{f' ({field})' if field else ''}."
               if mirror_key else "check the URL (mirrors: and the cohort's accession / file).")
    clock = _Clock(lim)
    last = ""
    done = False
    try:
        for attempt in range(1, lim.retries + 1):
            try:
                content_type = _attempt(url, part, clock, field)
                _check_body(url, part, dest, content_type, field, fix_url)
                if dest.name.endswith(".gz"):
                    try:
                        check_gzip(part)
                    except _Retryable:
                        part.unlink()  # a resumed tail cannot repair a corrupt stream
                        raise
                digest = sha256sum(part)
                size = part.stat().st_size
                part.replace(dest)
                _write_manifest(dest, url, size, digest)
                log.info("downloaded %s (%d bytes, sha256 %s)", url, size, digest)
                done = True
                return dest
            except _Retryable as exc:
                last = str(exc)
                wait = lim.backoff_seconds * 2 ** (attempt - 1)
                if attempt < lim.retries:
                    if wait >= clock.remaining():
                        raise _Deadline from exc
                    log.warning("%s: %s; retry %d of %d in %.1f s", url, exc, attempt,
                                lim.retries - 1, wait)
                    time.sleep(wait)
    except _Deadline:
        raise FerroscopeError(
            f"could not download {url} within download.deadline_seconds = "
            f"{lim.deadline_seconds:g} s (retries and waits included)"
            f"{f'; last problem: {last}' if last else ''}.", field=field,
            fix="the host is too slow or stalls: run again later, use a closer mirror "
                f"({f'mirrors.{mirror_key}' if mirror_key else 'mirrors:'}), or raise "
                "download.deadline_seconds in config/config.yaml.") from None
    finally:
        if not done and part.exists():
            part.unlink()  # nothing half-downloaded stays behind (0-byte or partial)
    slow = "download.min_bytes_per_second" in last
    raise FerroscopeError(
        f"could not download {url} after {lim.retries} attempts: {last}.", field=field,
        fix=("the host sends too slowly: run again later, use a closer mirror "
             f"({f'mirrors.{mirror_key}' if mirror_key else 'mirrors:'}), or lower "
             "download.min_bytes_per_second in config/config.yaml (0 turns the rule off)."
             if slow else
             "check the network or the server, then run the workflow again (finished "
             "downloads are kept)."))


def _write_manifest(dest: Path, url: str, size: int, digest: str) -> None:
    with atomic_open(manifest_path(dest)) as fh:
        fh.write(json.dumps({"url": url, "bytes": size, "sha256": digest,
                             "fetched": datetime.now(UTC).isoformat(timespec="seconds")},
                            indent=1) + "\n")
