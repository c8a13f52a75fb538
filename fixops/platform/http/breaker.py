"""The circuit breaker: stop calling a destination that keeps failing, probe it now and then.

closed     -> call normally; FIXOPS_BREAKER_THRESHOLD consecutive transient failures open it.
open       -> no calls until `breaker_until` (the wait doubles with each consecutive opening, up
              to FIXOPS_BREAKER_MAX_SECONDS).
half_open  -> one caller won the probe (an atomic UPDATE) and makes a single call; success
              closes the breaker, a transient failure opens it again. A prober that dies leaves
              `breaker_until` behind it, after which another caller probes.

Permanent errors (a 400 about one request) say nothing about the destination's health and
leave the breaker alone.

The state lives on any row with the fields of fixops.platform.models.breaker.BreakerFields:
the functions below take a queryset selecting the row(s). A caller with no row of its own uses
`guarded(key)`, which keeps the state on a platform Breaker row keyed by a string.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from fixops.platform.http.errors import BreakerOpen, PermanentError, TransientError
from fixops.platform.models.breaker import Breaker, BreakerState

# last_success_at is precise to this many seconds (it is health information, not a ledger).
SUCCESS_STAMP_SECONDS = 5
BLOCKING = (BreakerState.OPEN, BreakerState.HALF_OPEN)


def _open_seconds(opens: int) -> float:
    base = settings.FIXOPS_BREAKER_OPEN_SECONDS * (2 ** max(0, opens - 1))
    return min(base, settings.FIXOPS_BREAKER_MAX_SECONDS) * random.uniform(0.9, 1.1)  # noqa: S311


def record_success(rows: QuerySet, *, stamp: bool = True) -> None:
    """A call worked: close the breaker and note the time. Rows already closed whose last
    success is recent (or, with `stamp=False`, any closed row) are left alone, so the hot path
    does not write."""
    stale = ~Q(breaker_state=BreakerState.CLOSED) | Q(breaker_failures__gt=0)
    if stamp:
        fresh = timezone.now() - timedelta(seconds=SUCCESS_STAMP_SECONDS)
        stale |= Q(last_success_at__isnull=True) | Q(last_success_at__lt=fresh)
    rows.filter(stale).update(
        breaker_state=BreakerState.CLOSED,
        breaker_failures=0,
        breaker_opens=0,
        breaker_until=None,
        last_success_at=timezone.now(),
    )


def record_failure(rows: QuerySet, error: str) -> str:
    """A transient failure of the one row `rows` selects; returns the breaker state after it
    (open when the threshold is reached, when the failure was the half-open probe, or when the
    row is gone)."""
    now = timezone.now()
    with transaction.atomic():
        row = (
            rows.select_for_update()
            .values("pk", "breaker_state", "breaker_failures", "breaker_opens")
            .first()
        )
        if row is None:
            return BreakerState.OPEN
        failures = row["breaker_failures"] + 1
        opening = (
            row["breaker_state"] == BreakerState.HALF_OPEN
            or failures >= settings.FIXOPS_BREAKER_THRESHOLD
        )
        changes = {
            "breaker_failures": failures,
            "last_failure_at": now,
            "last_error": error[:2000],
        }
        if opening:
            opens = row["breaker_opens"] + 1
            changes.update(
                breaker_state=BreakerState.OPEN,
                breaker_opens=opens,
                breaker_until=now + timedelta(seconds=_open_seconds(opens)),
            )
        rows.model.objects.filter(pk=row["pk"]).update(**changes)
    return BreakerState.OPEN if opening else row["breaker_state"]


def take_probes(rows: QuerySet, *, hold_seconds: float) -> list:
    """Primary keys of rows whose open breaker may be probed now; each is moved to half-open
    for `hold_seconds` by this caller alone (rows locked with SKIP LOCKED, so concurrent
    callers split them)."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            rows.select_for_update(skip_locked=True)
            .filter(breaker_state__in=BLOCKING, breaker_until__lte=now)
            .values_list("pk", flat=True)
        )
        if ids:
            rows.model.objects.filter(pk__in=ids).update(
                breaker_state=BreakerState.HALF_OPEN,
                breaker_until=now + timedelta(seconds=hold_seconds),
            )
    return ids


def release_probe(rows: QuerySet) -> None:
    """Nothing to probe with: stay open, probe-able again at once."""
    rows.filter(breaker_state=BreakerState.HALF_OPEN).update(
        breaker_state=BreakerState.OPEN, breaker_until=timezone.now()
    )


def reset(rows: QuerySet) -> None:
    """Close the breaker by hand (an admin action, or after fixing credentials)."""
    rows.update(
        breaker_state=BreakerState.CLOSED,
        breaker_failures=0,
        breaker_opens=0,
        breaker_until=None,
    )


def blocking_q(prefix: str = "") -> Q:
    """Rows whose breaker is open or probing (`prefix` reaches the fields through a join)."""
    return Q(**{f"{prefix}breaker_state__in": list(BLOCKING)})


# --- Keyed breakers, for callers with no row of their own ---------------------------------------


def _admit(key: str) -> bool:
    """Whether a call to `key` may go ahead; True when the breaker has something to clear on
    success (failures counted, or this call is the half-open probe). BreakerOpen while the
    breaker holds calls back."""
    row = (
        Breaker.objects.filter(key=key)
        .values("breaker_state", "breaker_until", "breaker_failures")
        .first()
    )
    if row is None:
        return False
    if row["breaker_state"] == BreakerState.CLOSED:
        return row["breaker_failures"] > 0
    now = timezone.now()
    until = row["breaker_until"]
    if until is None or until <= now:
        won = Breaker.objects.filter(
            Q(breaker_until__isnull=True) | Q(breaker_until__lte=now),
            key=key,
            breaker_state__in=BLOCKING,
        ).update(
            breaker_state=BreakerState.HALF_OPEN,
            breaker_until=now + timedelta(seconds=settings.FIXOPS_BREAKER_OPEN_SECONDS),
        )
        if won:
            return True
        until = Breaker.objects.filter(key=key).values_list("breaker_until", flat=True).first()
    wait = max((until - now).total_seconds(), 0.0) if until else None
    raise BreakerOpen(
        f"{key}: not called after repeated failures (circuit breaker open"
        + (f", next try in {wait:.0f}s)" if wait is not None else ")"),
        retry_after=wait,
    )


@contextmanager
def guarded(key: str) -> Iterator[None]:
    """Run the outbound call in the `with` block under the breaker of `key`.

    Raises BreakerOpen without calling while the breaker is open. A TransientError from the
    block counts as a failure; success (or a PermanentError: the destination answered) closes
    an open breaker. The closed, healthy path reads one row and writes nothing."""
    unhealthy = _admit(key)
    rows = Breaker.objects.filter(key=key)
    try:
        yield
    except TransientError as exc:
        Breaker.objects.get_or_create(key=key)
        record_failure(rows, str(exc))
        raise
    except PermanentError:
        if unhealthy:
            reset(rows)
        raise
    if unhealthy:
        record_success(rows, stamp=False)
