"""Retention of delivery history (run by apps/pipeline/retention.py): the attempts of
messages that are finished (delivered or dead). A message keeps its status, attempt count
and last error; attempts of unfinished messages stay, since they explain what is pending.
Inbound webhook deliveries that are finished (applied, ignored, failed) go after their own
period; pending and processing ones stay whatever their age."""

from __future__ import annotations

from datetime import datetime

from apps.connectors.models import (
    DeliveryStatus,
    InboundDelivery,
    MessageStatus,
    OutboxAttempt,
    OutboxMessage,
)
from fixops.platform import bulk

FINISHED = (MessageStatus.DELIVERED, MessageStatus.DEAD)


def attempts_purge(*, tenant_id: int, before: datetime, batch: int = 5000) -> int:
    finished = OutboxMessage.objects.filter(tenant_id=tenant_id, status__in=FINISHED).values("pk")
    stale = OutboxAttempt.objects.filter(message_id__in=finished, started_at__lt=before)
    return bulk.delete_in_batches(stale, batch=batch)


# A purged delivery id can be replayed afterwards; vendors retry for minutes to hours (Jira
# about 30 minutes), far below the shortest period anyone sets in days.
INBOX_FINISHED = (DeliveryStatus.APPLIED, DeliveryStatus.IGNORED, DeliveryStatus.FAILED)


def inbox_purge(*, tenant_id: int, before: datetime, batch: int = 5000) -> int:
    stale = InboundDelivery.objects.filter(
        tenant_id=tenant_id, status__in=INBOX_FINISHED, received_at__lt=before
    )
    return bulk.delete_in_batches(stale, batch=batch)
