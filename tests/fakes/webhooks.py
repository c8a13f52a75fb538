"""The sending side of the vendor fakes: webhook subscriptions and signed deliveries.

A vendor fake mixes in `WebhookSender`, registers subscriptions the way its vendor does
(`fake.subscribe_webhook(url, secret=..., events=[...])` — each fake documents which API call
or admin screen that stands for) and, when a test helper changes its state
(`fake.transition_issue(...)`, `fake.comment_as(...)`, `fake.delete_issue(...)`,
`fake.press_button(...)`), builds the vendor's documented payload, signs it with the vendor's
scheme and POSTs it to every subscription whose events match.

Sending is synchronous, from the caller's thread: when a helper returns, every delivery has
been answered and is in `fake.deliveries` (`Delivery(target, event, headers, body, status,
answer)`; status 0 when the connection failed). A subscription's target is a URL (POSTed with
`requests`, loopback only) or a callable `target(headers, body) -> int` (the pure signature
tests hand the signed delivery straight to `verify`/`parse` without an HTTP server).

For the negative cases, `fake.last_delivery()` gives what was sent, and `fake.send_raw(target,
body=..., headers=...)` sends anything: forged (`fake.sign_with(body, secret="other",
event=...)`), unsigned (headers without the signature), replayed (the same delivery twice:
`fake.redeliver(d)`), stale (`fake.sign_with(..., at=an_old_time)`); `fake.send_signed(target,
body, secret=..., event=...)` signs any bytes properly (oversized, malformed, deep JSON).

Out of order and late: inside `with fake.holding() as held:` deliveries are signed and kept, not
sent; `fake.release(held, reverse=True)` sends them afterwards (newest first when reversed).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from tests.fakes.base import FakeServer, Response

Target = str | Callable[[dict[str, str], bytes], int]


@dataclass
class Subscription:
    target: Target
    secret: str
    events: tuple[str, ...] = ()  # vendor event names; empty = every event
    options: dict[str, Any] = field(default_factory=dict)  # vendor specifics (ADO auth, ...)
    active: bool = True

    def wants(self, event: str) -> bool:
        return self.active and (not self.events or event in self.events)


@dataclass
class Delivery:
    target: Target
    event: str
    headers: dict[str, str]
    body: bytes
    status: int = 0  # the receiver's answer (0: connection failed)
    answer: bytes = b""


def _post(
    target: Target, headers: dict[str, str], body: bytes, timeout: float
) -> tuple[int, bytes]:
    if callable(target):
        return int(target(dict(headers), body)), b""
    host = urlsplit(target).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):  # the suite never leaves loopback
        raise ValueError(f"fake webhooks only deliver to loopback, not {host}")
    try:
        response = requests.post(target, data=body, headers=headers, timeout=timeout)
    except requests.RequestException:
        return 0, b""
    return response.status_code, response.content


class WebhookSender:
    """Mixin for FakeServer subclasses (see the module docstring)."""

    delivery_timeout = 10.0  # GitHub and GitLab give a receiver about 10 s

    def _hooks_init(self) -> None:
        if not hasattr(self, "_hooks_lock"):
            self._hooks_lock = threading.RLock()
            self.subscriptions: list[Subscription] = []
            self.deliveries: list[Delivery] = []

    def subscribe_webhook(
        self, target: Target, *, secret: str = "", events: Iterable[str] = (), **options: Any
    ) -> Subscription:
        """Register a webhook (what the vendor's admin screen or API call stores)."""
        self._hooks_init()
        sub = Subscription(target, secret, tuple(events), dict(options))
        with self._hooks_lock:
            self.subscriptions.append(sub)
        return sub

    def last_delivery(self) -> Delivery:
        self._hooks_init()
        with self._hooks_lock:
            return self.deliveries[-1]

    def send_raw(
        self,
        target: Target,
        *,
        body: bytes,
        headers: dict[str, str],
        event: str = "raw",
    ) -> Delivery:
        """POST exactly these bytes and headers (for forged, unsigned, stale, malformed...)."""
        self._hooks_init()
        status, answer = _post(target, headers, body, self.delivery_timeout)
        delivery = Delivery(target, event, dict(headers), body, status, answer)
        with self._hooks_lock:
            self.deliveries.append(delivery)
        return delivery

    def redeliver(self, delivery: Delivery) -> Delivery:
        """Send a delivery again, byte for byte (a vendor's retry or an attacker's replay)."""
        return self.send_raw(
            delivery.target, body=delivery.body, headers=delivery.headers, event=delivery.event
        )

    def sign_with(self, body: bytes, *, secret: str, event: str, **context: Any) -> dict[str, str]:
        """The vendor's headers for `body` under any secret (a forgery with the wrong one)."""
        return self.sign(body, Subscription("", secret), event=event, **context)

    def send_signed(
        self, target: Target, body: bytes, *, secret: str, event: str, **context: Any
    ) -> Delivery:
        """POST any bytes, signed as the vendor signs (oversized, malformed or deep bodies)."""
        headers = self.sign_with(body, secret=secret, event=event, **context)
        return self.send_raw(target, body=body, headers=headers, event=event)

    @contextlib.contextmanager
    def holding(self) -> Iterator[list[Delivery]]:
        """Keep the deliveries made inside the block (signed, unsent) for `release`."""
        self._hooks_init()
        held: list[Delivery] = []
        self._held = held
        try:
            yield held
        finally:
            self._held = None

    def release(self, held: list[Delivery], *, reverse: bool = False) -> list[Delivery]:
        """Send held deliveries (in reverse order: out of order)."""
        return [self.redeliver(d) for d in (list(reversed(held)) if reverse else list(held))]

    def _emit(self, event: str, payload: Any, **context: Any) -> list[Delivery]:
        """Sign and send `payload` to every subscription that wants `event`."""
        self._hooks_init()
        with self._hooks_lock:
            subs = [s for s in self.subscriptions if s.wants(event)]
        held = getattr(self, "_held", None)
        sent = []
        for sub in subs:
            body = self.encode_payload(payload, sub)
            headers = self.sign(body, sub, event=event, **context)
            if held is not None:
                kept = Delivery(sub.target, event, headers, body)
                held.append(kept)
                sent.append(kept)
                continue
            sent.append(self.send_raw(sub.target, body=body, headers=headers, event=event))
        return sent

    # -- per vendor --------------------------------------------------------------------------

    def encode_payload(self, payload: Any, sub: Subscription) -> bytes:
        return json.dumps(payload).encode()

    def sign(
        self, body: bytes, sub: Subscription, *, event: str, at: datetime | None = None, **_: Any
    ) -> dict[str, str]:
        """The headers the vendor sends with `body` for `sub` (signature, delivery id...)."""
        raise NotImplementedError


class LoopbackReceiver(FakeServer):
    """A bare HTTP receiver on 127.0.0.1 that records what the fakes POST (`.requests`) and
    answers `status`: for tests of the sending side without the FixOps endpoint."""

    name = "hook-receiver"
    routes = (("POST", r"/.*", "receive"),)

    def __init__(self, status: int = 200) -> None:
        self.status = status
        super().__init__()

    def receive(self, req: Any) -> Response:
        return Response(self.status, {"ok": True})
