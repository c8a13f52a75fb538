"""A man in the middle for an OIDC token endpoint on 127.0.0.1: forwards the token request
to the real provider, then delays and/or rewrites the answer (attack simulations)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


class TokenProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.delay = 0.0
        self.transform: Callable[[dict], dict] = lambda body: body
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() in ("authorization", "content-type")
                }
                answer = requests.post(
                    proxy.upstream, data=self.rfile.read(length), headers=headers, timeout=10
                )
                body = answer.json()
                if answer.status_code == 200:
                    body = proxy.transform(body)
                time.sleep(proxy.delay)
                payload = json.dumps(body).encode()
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> TokenProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
