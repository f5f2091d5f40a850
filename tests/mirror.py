"""A loopback HTTP server laid out like the public host, with injectable faults and fixtures.

``build_host(root)`` writes small synthetic files laid out like the public hosts (a gzipped
series matrix of a few MB, a plain-text survival table), so the download tests run on a fresh
clone without ``../shared``.

``Mirror(root)`` serves the files under ``root`` on 127.0.0.1 only (with HTTP Range support, as
NCBI's FTP-over-HTTP and S3 do). ``mirror.faults[path] = [fault, ...]`` makes the next requests
of that path misbehave, one list item per request, then serve normally:

* ``"drop"``: send the headers and half the body, then close the connection;
* ``"truncate"``: send a body cut to half its length with a matching Content-Length (a
  truncated gzip that the transport cannot notice);
* ``"corrupt"``: flip bytes in the middle of the body (full length);
* ``"empty"``: HTTP 200 with an empty body (Content-Length: 0);
* ``"html"``: HTTP 200 with an HTML error page (``Content-Type: text/html``);
* ``"html_disguised"``: the same page sent as ``application/octet-stream``;
* ``"trickle"``: the full Content-Length, then one byte every ``trickle_interval`` seconds;
* ``"slow"``: the whole body in 40 pieces spread over ``slow_seconds`` (a slow download that
  finishes);
* an int (404, 503, ...): answer with that status.

Every fault that waits is bounded: it stops after ``fault_seconds`` or when the mirror closes.
``mirror.requests`` records (path, Range header) of every request.
"""

from __future__ import annotations

import gzip
import io
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

MATRIX = "geo/series/GSE1nnn/GSE1000/matrix/GSE1000_series_matrix.txt.gz"
TABLE = "tcga/TCGA-LIHC_CDR_survival.tsv"
ERROR_PAGE = (b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
              b"<body><h1>Bad Gateway</h1><p>The proxy could not reach the upstream host.</p>"
              b"</body></html>\n")


def build_host(root: Path, *, n_probes: int = 6000, n_samples: int = 160,
               seed: int = 7) -> Path:
    """Write a synthetic series matrix (gzip, ~3-4 MB) and a survival TSV under ``root``."""
    rng = np.random.default_rng(seed)
    samples = [f"GSM{100000 + i}" for i in range(n_samples)]
    buf = io.StringIO()
    buf.write('!Series_title\t"Synthetic HCC series for download tests"\n')
    buf.write("!Sample_geo_accession\t" + "\t".join(f'"{s}"' for s in samples) + "\n")
    buf.write("!series_matrix_table_begin\n")
    buf.write('"ID_REF"\t' + "\t".join(f'"{s}"' for s in samples) + "\n")
    values = rng.normal(8.0, 2.0, size=(n_probes, n_samples))
    np.savetxt(buf, values, fmt="%.5f", delimiter="\t",
               header="", comments="")
    lines = buf.getvalue().split("\n")
    head, body = lines[:4], lines[4:4 + n_probes]
    text = "\n".join(head + [f'"{i}_at"\t{row}' for i, row in enumerate(body)])
    text += "\n!series_matrix_table_end\n"
    (root / MATRIX).parent.mkdir(parents=True, exist_ok=True)
    (root / MATRIX).write_bytes(gzip.compress(text.encode(), compresslevel=1, mtime=0))
    rows = ["bcr_patient_barcode\tOS\tOS.time"]
    rows += [f"TCGA-XX-{i:04d}\t{int(rng.integers(0, 2))}\t{int(rng.integers(10, 4000))}"
             for i in range(8000)]
    (root / TABLE).parent.mkdir(parents=True, exist_ok=True)
    (root / TABLE).write_text("\n".join(rows) + "\n")
    return root


class Mirror:
    def __init__(self, root: Path, *, trickle_interval: float = 0.2, slow_seconds: float = 3.0,
                 fault_seconds: float = 20.0) -> None:
        self.root = Path(root)
        self.faults: dict[str, list] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.trickle_interval = trickle_interval
        self.slow_seconds = slow_seconds
        self.fault_seconds = fault_seconds
        self.stop = threading.Event()
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _head(self, status: int, length: int, ctype: str = "application/octet-stream",
                      extra: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(length))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()

            def _paced(self, payload: bytes, piece: int, pause: float) -> None:
                """Send ``payload`` in pieces with pauses, bounded by fault_seconds."""
                end = time.monotonic() + mirror.fault_seconds
                self.close_connection = True
                for i in range(0, len(payload), piece):
                    if mirror.stop.is_set() or time.monotonic() > end:
                        return
                    try:
                        self.wfile.write(payload[i:i + piece])
                        self.wfile.flush()
                    except OSError:  # the client gave up
                        return
                    mirror.stop.wait(pause)

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                mirror.requests.append((path, self.headers.get("Range")))
                queue = mirror.faults.get(path)
                fault = queue.pop(0) if queue else None
                if isinstance(fault, int):
                    self.send_error(fault)
                    return
                if fault == "empty":
                    self._head(200, 0)
                    return
                if fault in ("html", "html_disguised"):
                    ctype = "text/html; charset=utf-8" if fault == "html" else \
                        "application/octet-stream"
                    self._head(200, len(ERROR_PAGE), ctype)
                    self.wfile.write(ERROR_PAGE)
                    return
                file = mirror.root / path.lstrip("/")
                if not file.is_file():
                    self.send_error(404)
                    return
                body = file.read_bytes()
                start = 0
                rng = self.headers.get("Range")
                extra = {}
                status = 200
                if rng and rng.startswith("bytes=") and fault is None:
                    start = int(rng[6:].split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    status = 206
                    extra["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
                payload = body[start:]
                if fault == "truncate":
                    payload = payload[: len(payload) // 2]
                if fault == "corrupt":
                    mid = len(payload) // 2
                    payload = payload[:mid] + bytes(b ^ 0xFF for b in payload[mid:mid + 64]) + \
                        payload[mid + 64:]
                self._head(status, len(payload), extra=extra)
                if fault == "drop":
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault == "trickle":
                    self._paced(payload, 1, mirror.trickle_interval)
                    return
                if fault == "slow":
                    self._paced(payload, -(-len(payload) // 40), mirror.slow_seconds / 40)
                    return
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Mirror:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
