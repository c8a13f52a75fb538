"""Draining the outbox: claim a batch under a lease, deliver it, hand it to attempts.py.

- Claim: `SELECT … FOR UPDATE SKIP LOCKED` over due rows (pending / failed whose time has come,
  or in flight with an expired lease), then a lease (owner + expiry) in the same transaction,
  so parallel drainers never take the same message. A message waits while an earlier message
  of its ordering key (the same remote object) is unfinished: updates to one ticket apply in
  order, everything else drains in parallel.
- Deliver: one message at a time (attempts.deliver_one). A heartbeat thread renews the lease of
  the batch's messages every third of FIXOPS_OUTBOX_LEASE_SECONDS whatever the batch is doing
  (one slow vendor call included), so the lease can stay short (20 s) and a dead worker's
  messages are taken over within about that long. A transient failure counts against the
  integration's circuit breaker, and once it opens the rest of the integration's batch is
  released untried.
- Probe: an integration whose open breaker is due gets a single message (half-open).
- Record: attempts.record, one short transaction per batch.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from apps.connectors.attempts import (
    Claimed,
    Connectors,
    DrainStats,
    Result,
    deliver_one,
    record,
)
from apps.connectors.models import (
    UNFINISHED,
    AttemptOutcome,
    ExternalLink,
    Integration,
    MessageStatus,
    OutboxAttempt,
    OutboxMessage,
)
from fixops.platform.http import breaker
from fixops.platform.lease import LeaseHeartbeat
from fixops.platform.models.breaker import BreakerState

_HOST = socket.gethostname()[:30]


def worker_id() -> str:
    """A lease owner unique to this claim: host, process and a random tag."""
    return f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:10]}"


# --- Claim -------------------------------------------------------------------------------------

_CLAIM_FIELDS = (
    "id",
    "tenant_id",
    "integration_id",
    "kind",
    "reference",
    "payload",
    "attempts",
    "max_attempts",
    "ordering_key",
    "status",
    "lease_owner",
)


def _blocked_integrations() -> list[int]:
    """Integrations the normal claim skips: disabled, breaker open or probing."""
    return list(
        Integration.objects.filter(Q(enabled=False) | breaker.blocking_q()).values_list(
            "id", flat=True
        )
    )


def claim(
    *, owner: str, limit: int, integration_id: int | None = None, probe: bool = False
) -> list[Claimed]:
    """Lease up to `limit` due messages to `owner` (one transaction, SKIP LOCKED).

    Two ordered index scans rather than one OR: rows whose lease expired (a dead worker's),
    then due pending / failed rows oldest first; each stops at `limit`, so the cost does not
    grow with the backlog."""
    now = timezone.now()
    earlier = OutboxMessage.objects.filter(
        ordering_key=OuterRef("ordering_key"), id__lt=OuterRef("id")
    )
    base = OutboxMessage.objects.filter(~Exists(earlier.filter(status__in=UNFINISHED))).annotate(
        has_prior=Exists(earlier)
    )
    if integration_id is not None:
        base = base.filter(integration_id=integration_id)
    if not probe:
        blocked = _blocked_integrations()
        if blocked:
            base = base.exclude(integration_id__in=blocked)
    expired = base.filter(status=MessageStatus.IN_FLIGHT, lease_expires_at__lt=now).order_by(
        "lease_expires_at"
    )
    due = base.filter(
        status__in=[MessageStatus.PENDING, MessageStatus.FAILED], next_attempt_at__lte=now
    ).order_by("next_attempt_at", "id")
    with transaction.atomic():
        rows = []
        for qs in (expired, due):
            if len(rows) >= limit:
                break
            rows += list(
                qs.select_for_update(skip_locked=True, of=("self",)).values_list(
                    *_CLAIM_FIELDS, "has_prior"
                )[: limit - len(rows)]
            )
        if not rows:
            return []
        ids = [row[0] for row in rows]
        OutboxMessage.objects.filter(pk__in=ids).update(
            status=MessageStatus.IN_FLIGHT,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=settings.FIXOPS_OUTBOX_LEASE_SECONDS),
            attempts=F("attempts") + 1,
            updated_at=now,
        )
        lost = [row for row in rows if row[9] == MessageStatus.IN_FLIGHT]
        if lost:
            OutboxAttempt.objects.bulk_create(
                OutboxAttempt(
                    message_id=row[0],
                    number=row[6],
                    started_at=now,
                    outcome=AttemptOutcome.LEASE_EXPIRED,
                    error="the worker holding the lease stopped before recording an outcome",
                    worker=row[10][:64],
                )
                for row in lost
            )
    return [
        Claimed(
            id=row[0],
            tenant_id=row[1],
            integration_id=row[2],
            kind=row[3],
            reference=row[4],
            payload=row[5],
            attempts=row[6] + 1,
            max_attempts=row[7],
            ordering_key=row[8],
            reclaimed=row[9] == MessageStatus.IN_FLIGHT,
            has_prior=row[11],
        )
        for row in rows
    ]


# --- Deliver -----------------------------------------------------------------------------------


def _deliver_batch(
    owner: str, batch: list[Claimed], connectors: Connectors, probe: bool = False
) -> list[Result]:
    integrations = Integration.objects.in_bulk({m.integration_id for m in batch})
    links = {
        (link.integration_id, link.reference): link
        for link in ExternalLink.objects.filter(
            integration_id__in=list(integrations), reference__in={m.reference for m in batch}
        )
    }
    results: list[Result] = []
    opened: set[int] = set()
    # Renews every message of the batch, including those already attempted: their outcomes
    # are recorded only at the end (attempts.record), and until then they must stay claimed.
    heartbeat = LeaseHeartbeat(
        lambda: _renew(owner, [m.id for m in batch]),
        interval=settings.FIXOPS_OUTBOX_LEASE_SECONDS / 3,
        name="outbox",
    )
    with heartbeat:
        for message in batch:
            if message.integration_id in opened:
                results.append(Result(message, "released"))
                continue
            result = deliver_one(message, integrations, links, connectors)
            results.append(result)
            if result.outcome == AttemptOutcome.RETRY:
                state = breaker.record_failure(_one(message.integration_id), result.error)
                if state == BreakerState.OPEN:
                    opened.add(message.integration_id)
            elif probe and result.outcome == AttemptOutcome.DEAD and result.http_status:
                breaker.reset(_one(message.integration_id))  # the vendor answered: it is up
    return results


def _renew(owner: str, ids: list[int]) -> int:
    """Push the lease of `owner`'s messages forward; how many it still holds."""
    return OutboxMessage.objects.filter(
        pk__in=ids, lease_owner=owner, status=MessageStatus.IN_FLIGHT
    ).update(
        lease_expires_at=timezone.now() + timedelta(seconds=settings.FIXOPS_OUTBOX_LEASE_SECONDS)
    )


# --- Drain loop --------------------------------------------------------------------------------


def drain(
    *,
    budget_seconds: float | None = None,
    batch_size: int | None = None,
    integration_id: int | None = None,
    ignore_breaker: bool = False,
) -> DrainStats:
    """Deliver due messages until none is left or the time budget is spent."""
    budget = settings.FIXOPS_OUTBOX_DRAIN_SECONDS if budget_seconds is None else budget_seconds
    size = batch_size or settings.FIXOPS_OUTBOX_BATCH_SIZE
    deadline = time.monotonic() + budget
    stats = DrainStats()
    connectors = Connectors()
    while time.monotonic() < deadline:
        worked = False
        if integration_id is None:
            worked = _probe(connectors, stats)
        owner = worker_id()
        batch = claim(owner=owner, limit=size, integration_id=integration_id, probe=ignore_breaker)
        if batch:
            worked = True
            stats.claimed += len(batch)
            stats.batches += 1
            record(owner, _deliver_batch(owner, batch, connectors), stats)
        if not worked:
            break
    return stats


def _probe(connectors: Connectors, stats: DrainStats) -> bool:
    """Send one message to each integration whose open breaker is due for a probe."""
    worked = False
    probes = breaker.take_probes(
        Integration.objects.filter(enabled=True), hold_seconds=settings.FIXOPS_OUTBOX_LEASE_SECONDS
    )
    for integration_id in probes:
        owner = worker_id()
        batch = claim(owner=owner, limit=1, integration_id=integration_id, probe=True)
        if not batch:
            breaker.release_probe(_one(integration_id))
            continue
        worked = True
        stats.probes += 1
        stats.claimed += 1
        record(owner, _deliver_batch(owner, batch, connectors, probe=True), stats)
    return worked


def _one(integration_id: int):
    """The integration row the breaker functions work on."""
    return Integration.objects.filter(pk=integration_id)
