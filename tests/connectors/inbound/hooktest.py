"""Helpers of the webhook signature tests: a receiver that keeps what a fake sent, and the two
calls the inbound endpoint makes on it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType

from apps.connectors.inbound.changes import RemoteChange
from apps.connectors.inbound.signatures import Verified


@dataclass
class Capture:
    """A subscription target that keeps every delivery (headers, body) and answers 200."""

    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def __call__(self, headers: dict[str, str], body: bytes) -> int:
        self.received.append((headers, body))
        return 200

    @property
    def last(self) -> tuple[dict[str, str], bytes]:
        return self.received[-1]


def verify(
    hooks: ModuleType,
    delivery: tuple[dict[str, str], bytes],
    *,
    secret: str,
    now: datetime | None = None,
    settings: dict | None = None,
) -> Verified:
    headers, body = delivery
    return hooks.verify(
        secret=secret,
        headers=headers,
        body=body,
        now=now or datetime.now(UTC),
        settings=settings or {},
    )


def receive(hooks: ModuleType, delivery, *, secret: str, **kw) -> list[RemoteChange]:
    """verify then parse, as the endpoint and the worker do."""
    verify(hooks, delivery, secret=secret, **kw)
    headers, body = delivery
    return hooks.parse(headers=headers, body=body)


def without(headers: dict[str, str], *names: str) -> dict[str, str]:
    lowered = {n.lower() for n in names}
    return {k: v for k, v in headers.items() if k.lower() not in lowered}


def deep_json(levels: int) -> bytes:
    return ("[" * levels + "]" * levels).encode()


def edited(body: bytes, **changes) -> bytes:
    data = json.loads(body)
    data.update(changes)
    return json.dumps(data).encode()
