"""Test kit for the feeds: real-format EPSS files and a real HTTP server on 127.0.0.1.

The server stands in for FIRST, CISA or a company mirror: it sends an ETag and honours
If-None-Match with 304, counts requests per path, and can be slow (for timeouts), fail a
few times first (for retries) or serve a body without Content-Length (for the size limit
enforced while streaming).
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"
KEV_SMALL = FIXTURES / "kev_small.json"
EPSS_COMMENT = "#model_version:v2025.03.14,score_date:2026-04-10T00:00:00+0000"


def epss_text(
    rows: Iterable[tuple[str, str, str]],
    *,
    comment: str | None = EPSS_COMMENT,
    header: str | None = "cve,epss,percentile",
) -> str:
    """An EPSS CSV exactly as published: comment line, header, string numbers, LF endings."""
    lines = [line for line in (comment, header) if line is not None]
    lines += [",".join(row) for row in rows]
    return "\n".join(lines) + "\n"


def epss_gz(rows: Iterable[tuple[str, str, str]], **kwargs) -> bytes:
    return gzip.compress(epss_text(rows, **kwargs).encode(), mtime=0)


@dataclass
class Route:
    body: bytes
    etag: str | None = None
    delay: float = 0.0  # seconds before answering (for read timeouts)
    fail_first: int = 0  # answer 503 to the first N requests
    status: int = 200
    content_length: bool = True  # False: stream until the connection closes
    content_type: str = "application/octet-stream"
    served: int = field(default=0)


class _Handler(BaseHTTPRequestHandler):
    server: FeedServer._Server

    def log_message(self, format, *args):  # keep test output clean
        pass

    def do_GET(self):
        kit = self.server.kit
        kit.requests[self.path] += 1
        kit.headers_seen.append((self.path, dict(self.headers)))
        route = kit.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        route.served += 1
        if route.delay:
            time.sleep(route.delay)
        if route.served <= route.fail_first:
            self.send_error(503)
            return
        if route.etag and self.headers.get("If-None-Match") == route.etag:
            self.send_response(304)
            self.send_header("ETag", route.etag)
            self.end_headers()
            return
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        if route.etag:
            self.send_header("ETag", route.etag)
        self.send_header("Last-Modified", "Fri, 10 Apr 2026 12:00:00 GMT")
        if route.content_length:
            self.send_header("Content-Length", str(len(route.body)))
        else:
            self.close_connection = True
        self.end_headers()
        try:
            for start in range(0, len(route.body), 64 * 1024):
                self.wfile.write(route.body[start : start + 64 * 1024])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client aborted (size limit): that is the point of the test


class FeedServer:
    """`with FeedServer() as server: server.add("/x.csv.gz", body); server.url("/x.csv.gz")`."""

    class _Server(ThreadingHTTPServer):
        daemon_threads = True
        kit: FeedServer

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: Counter[str] = Counter()
        self.headers_seen: list[tuple[str, dict]] = []
        self._server = self._Server(("127.0.0.1", 0), _Handler)
        self._server.kit = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, path: str, body: bytes, *, etag: str | None = "auto", **options) -> Route:
        if etag == "auto":
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        route = Route(body=body, etag=etag, **options)
        self.routes[path] = route
        return route

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"
