"""A circuit breaker per integration, stored on the Integration row so every worker shares it.

closed     -> deliver normally; FIXOPS_BREAKER_THRESHOLD consecutive transient failures open it.
open       -> the claim skips the integration's messages until `breaker_until` (the wait doubles
              with each consecutive opening, up to FIXOPS_BREAKER_MAX_SECONDS).
half_open  -> one worker won the probe (an atomic UPDATE) and delivers a single message; success
              closes the breaker, a transient failure opens it again. A prober that dies leaves
              `breaker_until` behind it, after which another worker probes.

Permanent errors (a 400 about one ticket) say nothing about the vendor's health and leave the
breaker alone.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.connectors.models import BreakerState, Integration

# last_success_at is precise to this many seconds (it is health information, not a ledger).
SUCCESS_STAMP_SECONDS = 5


def _open_seconds(opens: int) -> float:
    base = settings.FIXOPS_BREAKER_OPEN_SECONDS * (2 ** max(0, opens - 1))
    return min(base, settings.FIXOPS_BREAKER_MAX_SECONDS) * random.uniform(0.9, 1.1)  # noqa: S311


def record_success(integration_id: int) -> None:
    """A delivery worked: close the breaker and note the time. Rows already closed whose last
    success is recent are left alone (no write per batch on the hot path)."""
    fresh = timezone.now() - timedelta(seconds=SUCCESS_STAMP_SECONDS)
    stale = (
        ~Q(breaker_state=BreakerState.CLOSED)
        | Q(breaker_failures__gt=0)
        | Q(last_success_at__isnull=True)
        | Q(last_success_at__lt=fresh)
    )
    Integration.objects.filter(stale, pk=integration_id).update(
        breaker_state=BreakerState.CLOSED,
        breaker_failures=0,
        breaker_opens=0,
        breaker_until=None,
        last_success_at=timezone.now(),
    )


def record_failure(integration_id: int, error: str) -> str:
    """A transient failure; returns the breaker state after it (open when the threshold is
    reached or when the failure was the half-open probe)."""
    now = timezone.now()
    with transaction.atomic():
        row = (
            Integration.objects.select_for_update()
            .filter(pk=integration_id)
            .values("breaker_state", "breaker_failures", "breaker_opens")
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
        Integration.objects.filter(pk=integration_id).update(**changes)
    return BreakerState.OPEN if opening else row["breaker_state"]


def take_probes() -> list[int]:
    """Integrations whose open breaker may be probed now; each is moved to half-open by this
    caller alone (rows locked with SKIP LOCKED, so concurrent workers split them)."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Integration.objects.select_for_update(skip_locked=True)
            .filter(
                Q(breaker_state__in=[BreakerState.OPEN, BreakerState.HALF_OPEN]),
                breaker_until__lte=now,
                enabled=True,
            )
            .values_list("id", flat=True)
        )
        if ids:
            Integration.objects.filter(pk__in=ids).update(
                breaker_state=BreakerState.HALF_OPEN,
                breaker_until=now + timedelta(seconds=settings.FIXOPS_OUTBOX_LEASE_SECONDS),
            )
    return ids


def release_probe(integration_id: int) -> None:
    """Nothing to probe with: stay open, probe-able again at once when a message arrives."""
    Integration.objects.filter(pk=integration_id, breaker_state=BreakerState.HALF_OPEN).update(
        breaker_state=BreakerState.OPEN, breaker_until=timezone.now()
    )


def reset(integration_id: int) -> None:
    """Close the breaker by hand (admin action, or after fixing credentials)."""
    Integration.objects.filter(pk=integration_id).update(
        breaker_state=BreakerState.CLOSED,
        breaker_failures=0,
        breaker_opens=0,
        breaker_until=None,
    )


def blocked_q(prefix: str = "integration__") -> Q:
    """Rows whose integration must not be claimed by the normal claim (open, probing or off)."""
    return Q(**{f"{prefix}enabled": False}) | Q(
        **{f"{prefix}breaker_state__in": [BreakerState.OPEN, BreakerState.HALF_OPEN]}
    )
