"""How long a remote asks to be left alone, and a retry loop for idempotent calls.

Only idempotent calls (GET of a file, a look-up) are retried here. A call with effects (a POST
that may have reached the remote) is never retried behind its caller's back: the caller keeps
a durable record and retries from it (a transactional outbox, for instance).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import requests

from fixops.platform.http.errors import TransientError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A Retry-After longer than this is not waited for in-process; the caller gives up instead.
MAX_INLINE_WAIT = 300.0


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds or an HTTP date (never < 0)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return None if math.isnan(seconds) else max(seconds, 0.0)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max((when - now).total_seconds(), 0.0)


def _parse_reset(value: str | None) -> float | None:
    """A rate-limit reset header: epoch seconds or a delay in seconds, or an ISO-8601 time."""
    if not value:
        return None
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max((when - datetime.now(UTC)).total_seconds(), 0.0)
    if number > 1_000_000_000:  # an epoch timestamp
        return max(number - time.time(), 0.0)
    return max(number, 0.0)


def retry_after_from(response: requests.Response) -> float | None:
    """Retry-After first; else the rate-limit reset header when the call was limited."""
    seconds = parse_retry_after(response.headers.get("Retry-After"))
    if seconds is not None:
        return seconds
    if response.status_code in (403, 429):
        for header in ("X-RateLimit-Reset", "RateLimit-Reset"):
            seconds = _parse_reset(response.headers.get(header))
            if seconds is not None:
                return seconds
    return None


def backoff_delay(attempt: int, *, base: float, retry_after: float | None = None) -> float:
    """Exponential backoff from `base` (attempt 0 waits `base`), never sooner than the remote's
    Retry-After."""
    delay = base * 2**attempt
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def with_retries(
    call: Callable[[], T],
    *,
    retries: int,
    backoff: float,
    label: str,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run an idempotent `call`, retrying a TransientError up to `retries` times with
    exponential backoff (honouring the remote's Retry-After, up to MAX_INLINE_WAIT)."""
    for attempt in range(retries + 1):
        try:
            return call()
        except TransientError as exc:
            if attempt == retries or (exc.retry_after or 0) > MAX_INLINE_WAIT:
                raise
            delay = backoff_delay(attempt, base=backoff, retry_after=exc.retry_after)
            logger.warning(
                "outbound call failed, retrying",
                extra={"label": label, "error": str(exc), "attempt": attempt + 1},
            )
            sleep(delay + random.uniform(0, delay / 10) if delay else 0)  # noqa: S311 - jitter
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover
