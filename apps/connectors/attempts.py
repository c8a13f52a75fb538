"""One delivery attempt: apply a message at the vendor, classify what happened, record it.

- Apply: outside any transaction (a vendor call never holds a row lock). Before creating a
  remote object whose earlier attempt has an unknown outcome (a retry, a lease that expired
  under a dead worker) the connector is asked for our reference first.
- Classify: a TransientError is retried with exponential backoff and jitter, never sooner than
  the vendor's Retry-After; a PermanentError, or running out of attempts, is dead-lettered.
- Record: one short transaction per batch, fenced by the lease owner, so a worker that lost
  its lease cannot overwrite what the new owner did.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.connectors.base import Connector, RemoteRef
from apps.connectors.delivery import ticket_from_payload
from apps.connectors.inbound import echo
from apps.connectors.models import (
    SENT_COMMENTS_KEPT,
    AttemptOutcome,
    ExternalLink,
    Integration,
    MessageKind,
    MessageStatus,
    OutboxAttempt,
    OutboxMessage,
)
from apps.connectors.registry import connector_for
from fixops.platform.http import breaker
from fixops.platform.http.errors import OutboundError, PermanentError

logger = logging.getLogger(__name__)


@dataclass
class Claimed:
    id: int
    tenant_id: int
    integration_id: int
    kind: str
    reference: str
    payload: dict
    attempts: int  # including the current one
    max_attempts: int
    ordering_key: str
    reclaimed: bool  # its previous lease expired: that attempt's outcome is unknown
    has_prior: bool = False  # an earlier message was written for the same remote object


@dataclass
class Result:
    message: Claimed
    outcome: str  # AttemptOutcome, or "released" (not attempted: the breaker opened)
    started_at: object = None
    duration_ms: int = 0
    error: str = ""
    http_status: int | None = None
    retry_after: float | None = None
    ref: RemoteRef | None = None
    # Echo-suppression marks of the comments this attempt wrote (inbound/echo.py).
    comments: list[str] = field(default_factory=list)


@dataclass
class DrainStats:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    released: int = 0
    lost_leases: int = 0
    batches: int = 0
    probes: int = 0
    by_integration: dict = field(default_factory=dict)

    def add(self, other: DrainStats) -> None:
        for name in ("claimed", "delivered", "retried", "dead", "released", "lost_leases"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.batches += other.batches
        self.probes += other.probes

    def as_dict(self) -> dict[str, int]:
        return {
            "claimed": self.claimed,
            "delivered": self.delivered,
            "retried": self.retried,
            "dead": self.dead,
            "released": self.released,
            "lost_leases": self.lost_leases,
            "batches": self.batches,
            "probes": self.probes,
        }


# --- Deliver -----------------------------------------------------------------------------------


class NoRemoteObject(PermanentError):
    """A transition or comment for a reference no remote object carries."""


def _link_ref(link: ExternalLink) -> RemoteRef:
    return RemoteRef(
        id=link.remote_id,
        key=link.remote_key,
        url=link.remote_url,
        status=link.remote_status,
        version=link.remote_version,
        extra=link.remote_extra or {},
    )


def _existing(connector: Connector, message: Claimed, link: ExternalLink | None) -> RemoteRef:
    if link is not None:
        return _link_ref(link)
    found = connector.find_by_reference(message.reference)
    if found is None:
        raise NoRemoteObject(f"no remote object carries the reference {message.reference}")
    return found


def apply(
    connector: Connector,
    message: Claimed,
    link: ExternalLink | None,
    sent: list[str] | None = None,
) -> RemoteRef:
    """Make one message's effect true at the vendor; returns where the object now lives.
    The marks of the comments it wrote are appended to `sent` (echo suppression)."""
    sent = [] if sent is None else sent
    payload = message.payload
    if message.kind == MessageKind.UPSERT:
        ticket = ticket_from_payload(payload["ticket"])
        if link is not None:
            return connector.update(_link_ref(link), ticket)
        unknown_outcome = message.attempts > 1 or message.reclaimed or message.has_prior
        found = connector.find_by_reference(message.reference) if unknown_outcome else None
        if found is None:
            return connector.create(ticket)
        # Our own earlier attempt created it (same content); an earlier message's object
        # gets this message's newer content.
        return connector.update(found, ticket) if message.has_prior else found
    ref = _existing(connector, message, link)
    if message.kind == MessageKind.TRANSITION:
        ref = connector.transition(ref, payload["status"])
        if payload.get("comment"):
            sent += echo.marks(payload["comment"], connector.comment(ref, payload["comment"]))
        return ref
    sent += echo.marks(payload["body"], connector.comment(ref, payload["body"]))
    return ref


class Connectors:
    """Connector instances per integration for one drain run (keeps HTTP sessions warm)."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[object, Connector | Exception]] = {}

    def get(self, integration: Integration) -> Connector:
        stamp = integration.updated_at
        cached = self._cache.get(integration.pk)
        if cached is None or cached[0] != stamp:
            try:
                made: Connector | Exception = connector_for(
                    integration.kind,
                    base_url=integration.base_url,
                    credentials=integration.credentials,
                    settings=integration.settings,
                    timeout=(
                        settings.FIXOPS_CONNECTOR_CONNECT_TIMEOUT,
                        settings.FIXOPS_CONNECTOR_READ_TIMEOUT,
                    ),
                )
            except Exception as exc:  # noqa: BLE001 - recorded on every message it blocks
                made = exc
            cached = (stamp, made)
            self._cache[integration.pk] = cached
        if isinstance(cached[1], Exception):
            raise cached[1]
        return cached[1]


def deliver_one(message, integrations, links, connectors) -> Result:
    """Attempt one message; the outcome, not yet recorded."""
    started = timezone.now()
    clock = time.perf_counter()
    result = Result(message, AttemptOutcome.DELIVERED, started_at=started)
    integration = integrations.get(message.integration_id)
    try:
        if integration is None:
            raise PermanentError("the integration was deleted")
        connector = connectors.get(integration)
        link = links.get((message.integration_id, message.reference))
        result.ref = apply(connector, message, link, result.comments)
    except OutboundError as exc:
        result.error = exc.message[:4000]
        result.http_status = exc.status
        result.retry_after = exc.retry_after
        result.outcome = AttemptOutcome.DEAD if exc.permanent else AttemptOutcome.RETRY
    except Exception as exc:  # noqa: BLE001 - an unexpected failure is retried, then dead
        logger.exception("outbox message %s failed unexpectedly", message.id)
        result.error = f"{type(exc).__name__}: {exc}"[:4000]
        result.outcome = AttemptOutcome.RETRY
    if result.outcome == AttemptOutcome.RETRY and message.attempts >= message.max_attempts:
        result.outcome = AttemptOutcome.DEAD
        result.error = f"gave up after {message.attempts} attempts; last error: {result.error}"
    result.duration_ms = round((time.perf_counter() - clock) * 1000)
    return result


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter (half fixed, half random), never sooner than the
    vendor's Retry-After."""
    ceiling = min(
        settings.FIXOPS_OUTBOX_BACKOFF_MAX,
        settings.FIXOPS_OUTBOX_BACKOFF_BASE * (2 ** max(0, attempts - 1)),
    )
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto
    if retry_after is not None:
        delay = max(delay, min(float(retry_after), 24 * 3600))
    return delay


# --- Record ------------------------------------------------------------------------------------


def record(owner: str, results: list[Result], stats: DrainStats) -> None:
    """Store a batch's outcomes (delivered, retry with backoff, dead, released), fenced by
    the lease owner, and close the breaker of every integration that delivered."""
    now = timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Losing this commit in a database crash is safe: the rows stay in flight, their
            # lease expires and the retry looks the reference up. The claim stays durable.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        mine = set(
            OutboxMessage.objects.select_for_update()
            .filter(
                pk__in=[r.message.id for r in results],
                lease_owner=owner,
                status=MessageStatus.IN_FLIGHT,
            )
            .values_list("id", flat=True)
        )
        stats.lost_leases += len(results) - len(mine)
        results = [r for r in results if r.message.id in mine]
        cleared = {"lease_owner": "", "lease_expires_at": None, "updated_at": now}
        delivered = [r for r in results if r.outcome == AttemptOutcome.DELIVERED]
        OutboxMessage.objects.filter(pk__in=[r.message.id for r in delivered]).update(
            status=MessageStatus.DELIVERED, delivered_at=now, last_error="", **cleared
        )
        released = [r for r in results if r.outcome == "released"]
        _release(released, cleared)
        for r in results:
            if r.outcome == AttemptOutcome.RETRY:
                wait = backoff_seconds(r.message.attempts, r.retry_after)
                OutboxMessage.objects.filter(pk=r.message.id).update(
                    status=MessageStatus.FAILED,
                    next_attempt_at=now + timedelta(seconds=wait),
                    last_error=r.error,
                    **cleared,
                )
            elif r.outcome == AttemptOutcome.DEAD:
                OutboxMessage.objects.filter(pk=r.message.id).update(
                    status=MessageStatus.DEAD, last_error=r.error, **cleared
                )
        OutboxAttempt.objects.bulk_create(
            OutboxAttempt(
                message_id=r.message.id,
                number=r.message.attempts,
                started_at=r.started_at,
                duration_ms=r.duration_ms,
                outcome=r.outcome,
                http_status=r.http_status,
                error=r.error,
                worker=owner[:64],
            )
            for r in results
            if r.outcome != "released"
        )
        _save_links(delivered, now)
    for integration_id in {r.message.integration_id for r in delivered}:
        breaker.record_success(Integration.objects.filter(pk=integration_id))
    stats.delivered += len(delivered)
    stats.released += len(released)
    stats.retried += sum(1 for r in results if r.outcome == AttemptOutcome.RETRY)
    stats.dead += sum(1 for r in results if r.outcome == AttemptOutcome.DEAD)


def _release(released: list[Result], cleared: dict) -> None:
    """Hand back messages not attempted because their integration's breaker opened."""
    if not released:
        return
    until = dict(
        Integration.objects.filter(pk__in={r.message.integration_id for r in released}).values_list(
            "id", "breaker_until"
        )
    )
    for integration_id in set(until):
        OutboxMessage.objects.filter(
            pk__in=[r.message.id for r in released if r.message.integration_id == integration_id]
        ).update(
            status=MessageStatus.FAILED,
            attempts=F("attempts") - 1,
            next_attempt_at=until[integration_id] or timezone.now(),
            **cleared,
        )


def _save_links(delivered: list[Result], now) -> None:
    rows = {}
    for r in delivered:
        ref, m = r.ref, r.message
        if ref is None:
            continue
        if m.kind == MessageKind.TRANSITION:
            state = m.payload["status"]
        elif m.kind == MessageKind.UPSERT:
            state = m.payload["ticket"].get("status", "open")
        else:
            state = None
        previous = rows.get((m.integration_id, m.reference))
        comments = (previous[3] if previous else []) + r.comments
        rows[(m.integration_id, m.reference)] = (m, ref, state, comments)
    if not rows:
        return
    existing = {
        (link.integration_id, link.reference): link
        for link in ExternalLink.objects.filter(
            integration_id__in={k[0] for k in rows}, reference__in={k[1] for k in rows}
        )
    }
    new = []
    for key, (m, ref, state, comments) in rows.items():
        link = existing.get(key)
        if link is None:
            link = ExternalLink(
                tenant_id=m.tenant_id,
                integration_id=m.integration_id,
                reference=m.reference,
                created_at=now,
            )
            new.append(link)
        link.finding_id = m.payload.get("finding_id", link.finding_id)
        link.decision_id = m.payload.get("decision_id", link.decision_id)
        link.remote_id = str(ref.id)[:200]
        link.remote_key = (ref.key or "")[:200]
        link.remote_url = (ref.url or link.remote_url or "")[:1000]
        link.remote_status = (ref.status or "")[:100]
        link.remote_version = ref.version
        link.remote_extra = ref.extra or {}
        link.state = state or link.state
        # What our write left at the vendor: an inbound change equal to it is our own echo.
        link.sent_status = link.remote_status
        link.sent_comments = ((link.sent_comments or []) + comments)[-SENT_COMMENTS_KEPT:]
        link.last_sync_at = now
        if link.pk:
            link.save()
    ExternalLink.objects.bulk_create(new)
