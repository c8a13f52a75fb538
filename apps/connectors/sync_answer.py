"""What `POST /integrations/{id}/sync` answers: the work done during the sync, and what is
still out of sync afterwards (docs/connectors.md, the sync row).

    {"queued": messages this sync wrote,
     "delivered": messages of the integration delivered while the sync ran (by the sync's
                  own drain or a worker's),
     "failed": messages whose attempt during the sync failed (retry later or dead),
     "out_of_sync": {"pending": waiting for a first attempt or being delivered,
                     "retrying": failed, waiting for their next attempt,
                     "dead": given up on (replay them from the outbox),
                     "breaker_open": waiting because the integration's breaker is open (these
                                     are not counted as pending or retrying),
                     "drift": open drift rows found by reconciliation}}

A second sync with nothing to do answers zeros everywhere.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q
from django.utils import timezone

from apps.connectors.models import (
    AttemptOutcome,
    Drift,
    Integration,
    MessageStatus,
    OutboxAttempt,
    OutboxMessage,
)
from fixops.platform.http import breaker


def held_elsewhere(integration: Integration) -> bool:
    """Whether another worker holds some of the integration's messages under a live lease."""
    return OutboxMessage.objects.filter(
        integration=integration,
        status=MessageStatus.IN_FLIGHT,
        lease_expires_at__gt=timezone.now(),
    ).exists()


def answer(integration: Integration, *, queued: int, since: datetime) -> dict:
    messages = OutboxMessage.objects.filter(integration=integration)
    counts = messages.aggregate(
        delivered=Count("id", filter=Q(status=MessageStatus.DELIVERED, delivered_at__gte=since)),
        pending=Count("id", filter=Q(status__in=[MessageStatus.PENDING, MessageStatus.IN_FLIGHT])),
        retrying=Count("id", filter=Q(status=MessageStatus.FAILED)),
        dead=Count("id", filter=Q(status=MessageStatus.DEAD)),
    )
    failed = (
        OutboxAttempt.objects.filter(
            message__integration=integration,
            started_at__gte=since,
            outcome__in=[AttemptOutcome.RETRY, AttemptOutcome.DEAD],
        )
        .values("message_id")
        .distinct()
        .count()
    )
    pending, retrying = counts["pending"], counts["retrying"]
    held = Integration.objects.filter(pk=integration.pk).filter(breaker.blocking_q()).exists()
    return {
        "queued": queued,
        "delivered": counts["delivered"],
        "failed": failed,
        "out_of_sync": {
            "pending": 0 if held else pending,
            "retrying": 0 if held else retrying,
            "dead": counts["dead"],
            "breaker_open": pending + retrying if held else 0,
            "drift": Drift.objects.filter(
                integration=integration, repaired_at__isnull=True
            ).count(),
        },
    }
