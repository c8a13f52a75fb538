"""Processing the inbox: claim stored deliveries under a lease, parse and apply each one, record.

- Claim (like the outbox's drain.py): `SELECT … FOR UPDATE SKIP LOCKED` over due rows (pending
  whose time has come, or processing with an expired lease: their worker died), leased to one
  owner in the same transaction; parallel workers never take the same delivery.
- Apply: one transaction per delivery holds its row lock, parses the stored body with the
  vendor's module, calls `apply_changes` and marks the row applied (or ignored, when nothing
  changed) in that same transaction. A worker killed midway rolls everything back; the lease
  expires and another worker applies the delivery once. While a worker holds the row lock a
  second claim skips the row, so a slow apply is never applied twice.
- Failures: an unexpected error is retried with the outbox's backoff (attempts.py) up to the
  row's `max_attempts`, then the row is `failed` with its error (shown in the admin, where it
  can be retried); a body the vendor's parser refuses fails at once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.connectors.attempts import backoff_seconds
from apps.connectors.drain import worker_id
from apps.connectors.inbound.apply import apply_changes
from apps.connectors.inbound.signatures import HookMalformed
from apps.connectors.inbound.vendors import HOOKS
from apps.connectors.models import DeliveryStatus, InboundDelivery
from apps.connectors.tasks import inbox_process_task
from fixops.platform import metrics
from fixops.platform.audit import audit_record

logger = logging.getLogger(__name__)


@dataclass
class InboxStats:
    claimed: int = 0
    applied: int = 0
    ignored: int = 0
    retried: int = 0
    failed: int = 0
    lost: int = 0  # claimed, but another worker took the row over first

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def claim(*, owner: str, limit: int) -> list[int]:
    """Lease up to `limit` due deliveries to `owner` (one transaction, SKIP LOCKED); their ids."""
    now = timezone.now()
    expired = InboundDelivery.objects.filter(
        status=DeliveryStatus.PROCESSING, lease_expires_at__lt=now
    ).order_by("lease_expires_at")
    due = InboundDelivery.objects.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).order_by("next_attempt_at", "id")
    with transaction.atomic():
        ids: list[int] = []
        for qs in (expired, due):
            if len(ids) >= limit:
                break
            ids += list(
                qs.select_for_update(skip_locked=True).values_list("id", flat=True)[
                    : limit - len(ids)
                ]
            )
        if ids:
            InboundDelivery.objects.filter(pk__in=ids).update(
                status=DeliveryStatus.PROCESSING,
                lease_owner=owner,
                lease_expires_at=now + timedelta(seconds=settings.FIXOPS_INBOX_LEASE_SECONDS),
                attempts=F("attempts") + 1,
            )
    return ids


def process_one(delivery_id: int, owner: str) -> str:
    """Apply one claimed delivery; its outcome (applied, ignored, retried, failed, lost)."""
    try:
        with transaction.atomic():
            # Only the delivery's row is locked (of=self): the integration row is shared by
            # every delivery of it and updated by the outbox's breaker.
            row = (
                InboundDelivery.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("integration", "integration__tenant")
                .filter(pk=delivery_id, lease_owner=owner, status=DeliveryStatus.PROCESSING)
                .first()
            )
            if row is None:
                return "lost"
            outcome = _apply(row)
    except HookMalformed as exc:
        return _record_failure(delivery_id, owner, f"malformed: {exc}", permanent=True)
    except Exception as exc:  # noqa: BLE001 - retried with backoff, then failed
        logger.exception("inbox delivery %s failed", delivery_id)
        return _record_failure(delivery_id, owner, f"{type(exc).__name__}: {exc}")
    return outcome


def _apply(row: InboundDelivery) -> str:
    integration = row.integration
    module = HOOKS.get(integration.kind)
    if module is None or not integration.enabled:
        result: dict = {"effects": {"integration disabled or without webhooks": 1}}
        status = DeliveryStatus.IGNORED
    else:
        changes = module.parse(headers=row.headers or {}, body=bytes(row.body))
        applied = apply_changes(integration, changes, source="webhook")
        result = applied.as_dict()
        status = DeliveryStatus.APPLIED if applied.applied else DeliveryStatus.IGNORED
    now = timezone.now()
    InboundDelivery.objects.filter(pk=row.pk).update(
        status=status,
        result=result,
        applied_at=now,
        error="",
        lease_owner="",
        lease_expires_at=None,
    )
    metrics.inbound_processed.labels(integration.kind, status).inc()
    return status


def _record_failure(delivery_id: int, owner: str, error: str, *, permanent: bool = False) -> str:
    with transaction.atomic():
        row = (
            InboundDelivery.objects.select_for_update(of=("self",))
            .select_related("integration")
            .filter(pk=delivery_id, lease_owner=owner, status=DeliveryStatus.PROCESSING)
            .first()
        )
        if row is None:
            return "lost"
        give_up = permanent or row.attempts >= row.max_attempts
        now = timezone.now()
        row.status = DeliveryStatus.FAILED if give_up else DeliveryStatus.PENDING
        row.error = error[:4000]
        row.next_attempt_at = now + timedelta(
            seconds=0 if give_up else backoff_seconds(row.attempts)
        )
        row.lease_owner, row.lease_expires_at = "", None
        row.save(
            update_fields=["status", "error", "next_attempt_at", "lease_owner", "lease_expires_at"]
        )
    outcome = "failed" if give_up else "retried"
    metrics.inbound_processed.labels(row.integration.kind, outcome).inc()
    return outcome


def inbox_drain(
    *, budget_seconds: float | None = None, batch_size: int | None = None
) -> InboxStats:
    """Apply due deliveries until none is left or the time budget is spent."""
    budget = settings.FIXOPS_INBOX_DRAIN_SECONDS if budget_seconds is None else budget_seconds
    size = batch_size or settings.FIXOPS_INBOX_BATCH_SIZE
    deadline = time.monotonic() + budget
    stats = InboxStats()
    while time.monotonic() < deadline:
        owner = worker_id()
        ids = claim(owner=owner, limit=size)
        if not ids:
            break
        stats.claimed += len(ids)
        for delivery_id in ids:
            outcome = process_one(delivery_id, owner)
            setattr(stats, outcome, getattr(stats, outcome) + 1)
    return stats


def delivery_retry(*, delivery: InboundDelivery, actor: str) -> bool:
    """Queue a failed delivery again with fresh attempts (after fixing its cause); False when
    it is not failed any more. Audited."""
    with transaction.atomic():
        moved = InboundDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.FAILED).update(
            status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=timezone.now()
        )
        if moved:
            audit_record(
                tenant=delivery.tenant,
                actor=actor,
                action="inbound_delivery.retry",
                target_type="connectors.inbounddelivery",
                target_id=delivery.pk,
                before={"status": DeliveryStatus.FAILED, "error": delivery.error[:500]},
                after={"status": DeliveryStatus.PENDING},
            )
            transaction.on_commit(_wake, robust=True)
    return bool(moved)


def _wake() -> None:
    inbox_process_task.apply_async(kwargs={"reason": "retry"}, ignore_result=True)
