"""Loopback fake vendor servers: real HTTP servers on 127.0.0.1 (port 0), one thread per
connection, with inspectable in-memory state, a request log and fault injection.

A vendor fake subclasses `FakeServer`, declares `routes` (method, path regex, handler name) and
`check_auth`, keeps everything it knows in `self.state` under `self.lock`, and offers
`with_reference(reference)` (the remote objects carrying that reference).

    with FakeJira() as fake:          # or the pytest fixtures in tests/fakes/fixtures.py
        fake.url                      # "http://127.0.0.1:<port>"
        fake.fail_next(2, 503, retry_after=7)    # the next 2 requests answer 503 (+ Retry-After)
        fake.fail_next(1, 429, retry_after=3)    # vendor-shaped rate-limit answer
        fake.delay(2.0)               # every request waits 2 s before answering (0 to stop)
        fake.drop_next(1)             # close the next connection without answering
        fake.drop_next(1, after_commit=True)  # apply the request, then close without answering
        fake.down(); fake.up()        # every request 503 (down(refuse=True): connection refused)
        fake.requests                 # [RecordedRequest(method, path, query, headers, body, json)]
        fake.with_reference("fixops-f-1")   # the remote objects carrying that reference
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    fault: str = ""

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    @property
    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def header(self, name: str, default: str = "") -> str:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return default


@dataclass
class Response:
    status: int = 200
    body: Any = None  # dict/list -> JSON; bytes/str as is; None -> empty
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if self.body is None:
            return b"", headers
        if isinstance(self.body, bytes):
            return self.body, headers
        if isinstance(self.body, str):
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            return self.body.encode(), headers
        headers.setdefault("Content-Type", "application/json; charset=utf-8")
        return json.dumps(self.body).encode(), headers


def json_response(status: int, body: Any, **headers: str) -> Response:
    return Response(
        status=status, body=body, headers={k.replace("_", "-"): v for k, v in headers.items()}
    )


@dataclass
class _Fault:
    kind: str  # "fail" | "drop"
    status: int = 0
    retry_after: float | str | None = None
    after_commit: bool = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or drop mid-answer are part of the fault menu, not errors.
        return


class FakeServer:
    """Base class of the vendor fakes (see the module docstring)."""

    name = "fake"
    # (method, path regex, handler method name); groups are passed as keyword arguments.
    routes: tuple[tuple[str, str, str], ...] = ()

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.state: dict[str, Any] = {}
        self.requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._delay = 0.0
        self._delay_left: int | None = None
        self._down = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._connections: set[socket.socket] = set()
        self._compiled = [(m, re.compile(p + r"\Z"), h) for m, p, h in self.routes]
        self.reset_state()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeServer:
        handler = _make_handler(self)
        self._server = _Server(("127.0.0.1", self._port), handler)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.name}-fake",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._close_connections()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def reset_state(self) -> None:
        """Subclasses fill self.state with their initial data."""

    # -- fault injection ------------------------------------------------------------------------

    def fail_next(self, n: int, status: int, retry_after: float | str | None = None) -> None:
        """The next `n` requests answer `status` (vendor-shaped error body, Retry-After)."""
        with self.lock:
            self._faults.extend(_Fault("fail", status, retry_after) for _ in range(n))

    def drop_next(self, n: int = 1, *, after_commit: bool = False) -> None:
        """Close the next `n` connections without answering (after applying the request when
        `after_commit`, the ambiguous outcome of a create)."""
        with self.lock:
            self._faults.extend(_Fault("drop", after_commit=after_commit) for _ in range(n))

    def delay(self, seconds: float, n: int | None = None) -> None:
        """Wait `seconds` before answering every request (or only the next `n`)."""
        with self.lock:
            self._delay = seconds
            self._delay_left = n

    def down(self, *, refuse: bool = False) -> None:
        """Every request answers 503, or with refuse=True connections are refused."""
        with self.lock:
            self._down = True
        if refuse and self._server is not None:
            self.stop()

    def up(self) -> None:
        with self.lock:
            self._down = False
        if self._server is None:
            self.start()

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()
            self._delay = 0.0
            self._delay_left = None
            self._down = False

    # -- to override ----------------------------------------------------------------------------

    def check_auth(self, req: RecordedRequest) -> Response | None:
        """None when the request is authenticated, else the vendor's 401 answer."""
        return None

    def error_response(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> Response:
        """The vendor's error body shape."""
        return Response(status, {"message": message}, headers or {})

    def rate_limit_headers(self, retry_after: float | str | None) -> dict[str, str]:
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        return headers

    # -- helpers --------------------------------------------------------------------------------

    def requests_to(self, method: str, path_regex: str) -> list[RecordedRequest]:
        pattern = re.compile(path_regex)
        with self.lock:
            return [r for r in self.requests if r.method == method and pattern.search(r.path)]

    def _close_connections(self) -> None:
        with self.lock:
            conns = list(self._connections)
            self._connections.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def _take_fault(self) -> _Fault | None:
        with self.lock:
            return self._faults.pop(0) if self._faults else None

    def _take_delay(self) -> float:
        with self.lock:
            if not self._delay:
                return 0.0
            seconds = self._delay
            if self._delay_left is not None:
                self._delay_left -= 1
                if self._delay_left <= 0:
                    self._delay, self._delay_left = 0.0, None
            return seconds

    def dispatch(self, req: RecordedRequest) -> Response:
        denied = self.check_auth(req)
        if denied is not None:
            return denied
        path_matched = False
        for method, pattern, handler_name in self._compiled:
            match = pattern.match(req.path)
            if not match:
                continue
            path_matched = True
            if method != req.method:
                continue
            return getattr(self, handler_name)(req, **match.groupdict())
        if path_matched:
            return self.error_response(405, f"method {req.method} not allowed")
        return self.error_response(404, f"no route for {req.method} {req.path}")

    def handle(self, req: RecordedRequest) -> tuple[Response | None, bool]:
        """(response, drop): runs the fault menu then the route."""
        with self.lock:
            self.requests.append(req)
            down = self._down
        if down:
            req.fault = "down"
            return self.error_response(503, "service unavailable"), False
        fault = self._take_fault()
        seconds = self._take_delay()
        if seconds:
            time.sleep(seconds)
        if fault is not None and fault.kind == "drop":
            req.fault = "drop"
            if fault.after_commit:
                self.dispatch(req)
            return None, True
        if fault is not None and fault.kind == "fail":
            req.fault = f"fail {fault.status}"
            headers = {}
            if fault.status in (429, 503) or fault.retry_after is not None:
                headers = self.rate_limit_headers(fault.retry_after)
            message = "rate limit exceeded" if fault.status == 429 else "injected failure"
            return self.error_response(fault.status, message, headers), False
        return self.dispatch(req), False


def _make_handler(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30

        def setup(self) -> None:
            super().setup()
            # Headers and body leave in two writes: without NODELAY, Nagle + delayed ACK add
            # ~40 ms to every keep-alive request.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with fake.lock:
                fake._connections.add(self.connection)

        def finish(self) -> None:
            try:
                super().finish()
            finally:
                with fake.lock:
                    fake._connections.discard(self.connection)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            req = RecordedRequest(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k: v for k, v in self.headers.items()},
                body=body,
            )
            try:
                response, drop = fake.handle(req)
            except Exception as exc:  # a bug in a fake answers 500 rather than hanging
                response, drop = fake.error_response(500, f"fake error: {exc!r}"), False
            if drop or response is None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            payload, headers = response.encode()
            self.send_response(response.status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if payload and self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler
