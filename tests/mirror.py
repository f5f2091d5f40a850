"""A loopback HTTP server laid out like the public host, with injectable faults.

``Mirror(root)`` serves the files under ``root`` (with HTTP Range support, as NCBI's FTP-over-HTTP
and S3 do). ``mirror.faults[path] = [fault, ...]`` makes the next requests of that path misbehave,
one list item per request, then serve normally:

* ``"drop"``: send the headers and half the body, then close the connection;
* ``"truncate"``: send a body cut to half its length with a matching Content-Length (a
  truncated gzip that the transport cannot notice);
* ``"corrupt"``: flip bytes in the middle of the body (full length);
* an int (404, 503, ...): answer with that status.

``mirror.requests`` records (path, Range header) of every request.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Mirror:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.faults: dict[str, list] = {}
        self.requests: list[tuple[str, str | None]] = []
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                mirror.requests.append((path, self.headers.get("Range")))
                queue = mirror.faults.get(path)
                fault = queue.pop(0) if queue else None
                if isinstance(fault, int):
                    self.send_error(fault)
                    return
                file = mirror.root / path.lstrip("/")
                if not file.is_file():
                    self.send_error(404)
                    return
                body = file.read_bytes()
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes=") and fault is None:
                    start = int(rng[6:].split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                payload = body[start:]
                if fault == "truncate":
                    payload = payload[: len(payload) // 2]
                if fault == "corrupt":
                    mid = len(payload) // 2
                    payload = payload[:mid] + bytes(b ^ 0xFF for b in payload[mid:mid + 64]) + \
                        payload[mid + 64:]
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if fault == "drop":
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Mirror:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
