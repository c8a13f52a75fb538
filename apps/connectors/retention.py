"""Retention of delivery history (run by apps/pipeline/retention.py): the attempts of
messages that are finished (delivered or dead). A message keeps its status, attempt count
and last error; attempts of unfinished messages stay, since they explain what is pending."""

from __future__ import annotations

from datetime import datetime

from apps.connectors.models import MessageStatus, OutboxAttempt, OutboxMessage
from fixops.platform import bulk

FINISHED = (MessageStatus.DELIVERED, MessageStatus.DEAD)


def attempts_purge(*, tenant_id: int, before: datetime, batch: int = 5000) -> int:
    finished = OutboxMessage.objects.filter(tenant_id=tenant_id, status__in=FINISHED).values("pk")
    stale = OutboxAttempt.objects.filter(message_id__in=finished, started_at__lt=before)
    return bulk.delete_in_batches(stale, batch=batch)
