"""`enqueue`: the one way to ask for an effect at a vendor.

Call it inside the transaction of the change that causes the effect: the rows commit (or roll
back) with that change, so nothing is sent for a change that never happened and nothing is
lost for one that did. After commit a drain task is triggered once per transaction for low
latency; beat drains every few seconds as the safety net, so a lost trigger only costs time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.connectors.models import Integration, MessageKind, OutboxMessage
from apps.connectors.tasks import drain_task

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewMessage:
    integration: Integration
    kind: str  # MessageKind
    reference: str
    payload: dict = field(default_factory=dict)
    # Unique forever: the same cause enqueued twice (a retried request, a re-run task) is
    # stored once.
    idempotency_key: str = ""

    def __post_init__(self) -> None:
        if self.kind not in MessageKind.values:
            raise ValueError(f"unknown outbox message kind {self.kind!r}")
        if not self.reference or not self.idempotency_key:
            raise ValueError("an outbox message needs a reference and an idempotency key")


def ordering_key(integration_id: int, reference: str) -> str:
    """Messages about one remote object apply in the order they were written."""
    return f"{integration_id}:{reference}"[:250]


def enqueue(messages: Iterable[NewMessage]) -> int:
    """Write `messages` in the caller's transaction (one bulk insert); returns how many were
    new. Keys already stored are skipped, so re-running the cause is harmless."""
    messages = list(messages)
    if not messages:
        return 0
    by_key = {m.idempotency_key[:300]: m for m in messages}
    existing = set(
        OutboxMessage.objects.filter(idempotency_key__in=list(by_key)).values_list(
            "idempotency_key", flat=True
        )
    )
    now = timezone.now()
    rows = [
        OutboxMessage(
            tenant_id=m.integration.tenant_id,
            integration_id=m.integration.pk,
            kind=m.kind,
            reference=m.reference[:200],
            payload=m.payload,
            idempotency_key=key,
            ordering_key=ordering_key(m.integration.pk, m.reference),
            max_attempts=settings.FIXOPS_OUTBOX_MAX_ATTEMPTS,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        for key, m in by_key.items()
        if key not in existing
    ]
    if not rows:
        return 0
    OutboxMessage.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    trigger_drain_after_commit()
    return len(rows)


def trigger_drain_after_commit() -> None:
    """Queue one drain task when the current transaction commits (once per transaction)."""
    connection = transaction.get_connection()
    if connection.in_atomic_block and any(
        entry[1] is _trigger for entry in connection.run_on_commit
    ):
        return
    transaction.on_commit(_trigger, robust=True)


def _trigger() -> None:
    # tasks.py imports the drain only inside its task body, so importing the task module at
    # the top of this one makes no cycle.
    try:
        drain_task.apply_async(kwargs={"reason": "commit"}, ignore_result=True)
    except Exception:  # noqa: BLE001 - the rows are committed; beat drains them anyway
        logger.warning("could not queue the outbox drain; beat will pick the messages up")
