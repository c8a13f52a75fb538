"""Verifying a vendor's webhook delivery: the verdicts and the constant-time helpers every
vendor's `webhook.py` shares.

A vendor module's `verify` reads only headers and the raw body bytes (never parsed JSON: the
signature covers the bytes as sent) and answers `Verified` or raises `HookRejected` with the
HTTP status the endpoint answers. Its `parse` turns a verified body into `RemoteChange`s or
raises `HookMalformed`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fixops.platform import jsondepth
from fixops.platform.errors import DomainError, Invalid

# Slack's and our ServiceNow contract's window; the vendors that sign a timestamp use 5 min.
DEFAULT_WINDOW = timedelta(minutes=5)


class HookRejected(DomainError):  # noqa: N818 - a verdict, not a crash
    """The delivery is not authentic (401) or its headers cannot be read (400): `status` is
    what the endpoint answers, `code` and `message` go into the error shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.status = status


class HookMalformed(Invalid):  # noqa: N818 - reads as what it is
    """A verified body that is not the vendor's documented shape (bad JSON, wrong types)."""

    code = "malformed_delivery"


@dataclass(frozen=True)
class Verified:
    # The vendor's id of this delivery (the same on its retries), or one derived from what the
    # vendor signed where it sends none; the inbox's replay key.
    delivery_id: str
    # When the vendor says it sent the delivery, where that time is under the signature.
    occurred_at: datetime | None = None


def header(headers: Mapping[str, str], name: str) -> str:
    """A header's value by case-insensitive name ("" when absent)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value.strip()
    return ""


def hmac_hex(secret: str | bytes, message: bytes, algorithm: str = "sha256") -> str:
    """Lower-case hex HMAC of `message` under `secret`."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message, getattr(hashlib, algorithm)).hexdigest()


def same(given: str | bytes, expected: str | bytes) -> bool:
    """Constant-time equality (a timing difference would leak the expected value)."""
    a = given.encode() if isinstance(given, str) else given
    b = expected.encode() if isinstance(expected, str) else expected
    return hmac.compare_digest(a, b)


def require_secret(secret: str) -> None:
    """An integration without its secret accepts nothing (never "unsigned is fine")."""
    if not secret:
        raise HookRejected(401, "hook_not_configured", "no webhook secret is configured")


def check_prefixed_hex(value: str, *, prefix: str, name: str, digest_len: int = 64) -> str:
    """The hex digest of a `<prefix><hex>` signature header (400 when it is not that shape)."""
    if not value:
        raise HookRejected(401, "unsigned", f"{name} is missing")
    if not value.startswith(prefix):
        raise HookRejected(400, "bad_signature_header", f"{name} must start with {prefix!r}")
    digest = value[len(prefix) :].lower()
    if len(digest) != digest_len or any(c not in "0123456789abcdef" for c in digest):
        raise HookRejected(400, "bad_signature_header", f"{name} is not a hex digest")
    return digest


def check_hmac(*, given_hex: str, secret: str, message: bytes, name: str) -> None:
    """401 unless `given_hex` is the HMAC-SHA256 of `message` under `secret`."""
    if not same(given_hex, hmac_hex(secret, message)):
        raise HookRejected(401, "bad_signature", f"{name} does not match the body")


def unix_timestamp(value: str, *, name: str) -> datetime:
    """A header carrying unix seconds, as an aware datetime (400 when it is not)."""
    if not value:
        raise HookRejected(400, "missing_timestamp", f"{name} is missing")
    if not value.isdigit() or len(value) > 12:
        raise HookRejected(400, "bad_timestamp", f"{name} must be unix seconds")
    return datetime.fromtimestamp(int(value), tz=UTC)


def check_window(
    sent: datetime, *, now: datetime, window: timedelta = DEFAULT_WINDOW, name: str = "timestamp"
) -> None:
    """401 when `sent` is further than `window` from `now`, either way (a replay of an old
    signed request, or a clock far ahead)."""
    if abs(now - sent) > window:
        raise HookRejected(
            401, "stale", f"{name} is more than {int(window.total_seconds())} s from now"
        )


def body_digest(*parts: bytes) -> str:
    """A delivery id derived from signed bytes, for vendors that send none."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return "sha256:" + digest.hexdigest()


def load_json(body: bytes) -> Any:
    """The body as JSON, bounded in depth; HookMalformed when it is not JSON."""
    try:
        return jsondepth.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:  # TooDeepJSON is a ValueError
        raise HookMalformed(f"body is not JSON: {exc}") from exc


def load_object(body: bytes) -> dict:
    """The body as a JSON object (HookMalformed otherwise)."""
    data = load_json(body)
    if not isinstance(data, dict):
        raise HookMalformed("body must be a JSON object")
    return data


def obj(data: Any, name: str) -> dict:
    """`data` when it is an object, {} when absent, HookMalformed otherwise."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise HookMalformed(f"{name} must be an object")
    return data


def text(data: Any, name: str) -> str:
    """`data` as a string ("" when absent; numbers are ids); HookMalformed for other types."""
    if data is None:
        return ""
    if isinstance(data, bool) or not isinstance(data, str | int):
        raise HookMalformed(f"{name} must be a string")
    return str(data)


def millis(value: Any) -> datetime | None:
    """Epoch milliseconds (Jira's `timestamp`) as an aware datetime, None when absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HookMalformed("timestamp must be epoch milliseconds")
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise HookMalformed("timestamp is out of range") from exc


def iso(value: Any, name: str) -> datetime | None:
    """An ISO-8601 time from a payload (aware; naive read as UTC), None when absent."""
    raw = text(value, name)
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise HookMalformed(f"{name} is not an ISO-8601 time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
