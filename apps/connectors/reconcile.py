"""Reconciliation: read linked tickets back from the vendor, record drift, repair it.

Webhooks can be missed (not registered, vendor outage, a delivery we refused). A beat task
(`fixops.connectors.reconcile`, every FIXOPS_RECONCILE_MINUTES) walks every enabled tracker
integration whose breaker is not open, its links keyset-paged by id, FIXOPS_RECONCILE_PAGE_SIZE
at a time, each page read in the vendor's batch calls (`fetch_states` of its client, paced
within its rate limits: apps/connectors/reconcile_reads.py). Per link of one finding:

- ticket closed, finding active -> drift `ticket_closed_finding_open`; repaired by applying
  the ticket's status as a webhook would have (`inbound.apply.apply_changes`, source
  "reconcile"): done -> finding fixed (repaired); won't-do -> an acceptance request, the drift
  stays open until an approver acts and the finding is no longer active.
- finding closed, ticket open -> drift `finding_closed_ticket_open`; the close is queued
  through the outbox; the drift is repaired once a later run reads the ticket closed.
- ticket gone -> drift `ticket_deleted`; the link is removed (the drift keeps its reference),
  so a finding still active gets a new ticket from the next sync or status change; the drift
  is repaired once a new ticket carries the reference (at once when the finding is closed).

Links with a message still unfinished in the outbox are skipped (our own change is on its
way). Grouped tickets (no single finding) are only checked for deletion. Open drift no longer
observed is marked repaired. One open row per (link, kind): a second run records nothing new.
Each page commits in its own transaction; every drift row created or repaired is audited.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.connectors import outbox, registry
from apps.connectors.base import RemoteRef
from apps.connectors.inbound.apply import apply_changes
from apps.connectors.inbound.changes import RemoteChange
from apps.connectors.inbound.mapping import Outcome, classify
from apps.connectors.models import (
    UNFINISHED,
    Drift,
    DriftKind,
    ExternalLink,
    Integration,
    MessageKind,
    OutboxMessage,
)
from apps.connectors.outbox import NewMessage
from apps.connectors.registry import TRACKER_KINDS
from apps.connectors.tickets import CLOSING
from apps.findings.lifecycle import ACTIVE
from apps.findings.models import Finding
from fixops.platform.audit import audit_record_many
from fixops.platform.http import breaker
from fixops.platform.http.errors import OutboundError

logger = logging.getLogger(__name__)

ACTOR = "system:reconcile"
_LINK_COLUMNS = (
    "id",
    "reference",
    "remote_id",
    "remote_key",
    "remote_extra",
    "state",
    "finding_id",
    "finding__status",
)


@dataclass
class ReconcileStats:
    """What one run did for one integration (or, summed, for all)."""

    links: int = 0
    reads: int = 0  # links whose vendor state was read
    skipped: int = 0  # unread, or with an unfinished outbox message
    detected: dict[str, int] = field(default_factory=dict)
    repaired: dict[str, int] = field(default_factory=dict)
    error: str = ""

    def count(self, bucket: dict, kind: str, n: int = 1) -> None:
        bucket[str(kind)] = bucket.get(str(kind), 0) + n

    def as_dict(self) -> dict:
        return {
            "links": self.links,
            "reads": self.reads,
            "skipped": self.skipped,
            "detected": dict(self.detected),
            "repaired": dict(self.repaired),
            "error": self.error,
        }


def integrations_to_reconcile():
    """Enabled tracker integrations whose breaker lets calls through."""
    return (
        Integration.objects.filter(enabled=True, kind__in=TRACKER_KINDS)
        .exclude(breaker.blocking_q())
        .order_by("id")
    )


def reconcile_all(*, budget_seconds: float | None = None) -> dict[int, dict]:
    """One beat run: every integration to reconcile, until the budget is spent."""
    budget = settings.FIXOPS_RECONCILE_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    deadline = time.monotonic() + budget
    results = {}
    for integration in integrations_to_reconcile():
        if time.monotonic() >= deadline:
            break
        try:
            results[integration.pk] = reconcile_integration(
                integration, deadline=deadline
            ).as_dict()
        except Exception as exc:  # noqa: BLE001 - one integration's bug must not stop the others
            logger.exception("reconciliation failed", extra={"integration": integration.pk})
            results[integration.pk] = ReconcileStats(error=f"{type(exc).__name__}: {exc}").as_dict()
    return results


def reconcile_integration(
    integration: Integration, *, deadline: float | None = None, page_size: int | None = None
) -> ReconcileStats:
    """Walk one integration's links (keyset pages by id), recording and repairing drift."""
    stats = ReconcileStats()
    if integration.kind not in TRACKER_KINDS:
        return stats
    size = page_size or settings.FIXOPS_RECONCILE_PAGE_SIZE
    try:
        connector = registry.connector_for(
            integration.kind,
            base_url=integration.base_url,
            credentials=integration.credentials,
            settings=integration.settings,
        )
    except OutboundError as exc:  # a configuration the kind refuses
        stats.error = str(exc)[:500]
        return stats
    after = 0
    while deadline is None or time.monotonic() < deadline:
        page = list(
            ExternalLink.objects.filter(integration=integration, id__gt=after)
            .order_by("id")
            .values(*_LINK_COLUMNS)[:size]
        )
        if not page:
            break
        after = page[-1]["id"]
        stats.links += len(page)
        refs = [_ref(row) for row in page]
        try:
            states = connector.fetch_states(refs)
        except OutboundError as exc:
            # The vendor refused or stayed rate-limited past our retries: stop this
            # integration for this run (the next run starts over), keep what was done.
            stats.error = str(exc)[:500]
            logger.warning(
                "reconciliation stopped", extra={"integration": integration.pk, "error": str(exc)}
            )
            break
        with transaction.atomic():
            _reconcile_page(integration, page, states, stats)
    with transaction.atomic():
        _repair_replaced(integration, stats)
    return stats


def _ref(row: dict) -> RemoteRef:
    return RemoteRef(id=row["remote_id"], key=row["remote_key"], extra=row["remote_extra"] or {})


def _observed(integration: Integration, row: dict, change: RemoteChange | None) -> str | None:
    """The drift kind this link shows now, or None when ticket and finding agree."""
    if change is None:
        return DriftKind.TICKET_DELETED
    if row["finding_id"] is None or row["finding__status"] is None:
        return None  # grouped ticket, or its finding is gone: only deletion is checked
    # Read the ticket's status as its webhook would be (the vendor defaults, then the
    # integration's status_map): a status that means nothing (in progress, duplicate) is no drift.
    outcome = classify(integration.kind, change, integration.settings.get("status_map"))
    if outcome in (Outcome.DONE, Outcome.WONT_DO) and row["finding__status"] in ACTIVE:
        return DriftKind.TICKET_CLOSED_FINDING_OPEN
    if outcome == Outcome.REOPENED and row["finding__status"] in CLOSING:
        return DriftKind.FINDING_CLOSED_TICKET_OPEN
    return None


def _reconcile_page(integration, page, states, stats: ReconcileStats) -> None:
    now = timezone.now()
    live = set(
        OutboxMessage.objects.filter(
            integration=integration,
            status__in=UNFINISHED,
            reference__in=[row["reference"] for row in page],
        ).values_list("reference", flat=True)
    )
    open_rows = {
        (d.link_id, d.kind): d
        for d in Drift.objects.filter(
            link_id__in=[row["id"] for row in page], repaired_at__isnull=True
        )
    }
    observed: dict[int, tuple[dict, RemoteChange | None, str]] = {}
    seen_links = set()
    for row in page:
        if row["remote_id"] not in states or row["reference"] in live:
            stats.skipped += 1
            continue
        stats.reads += 1
        seen_links.add(row["id"])
        change = states[row["remote_id"]]
        kind = _observed(integration, row, change)
        if kind is not None:
            observed[row["id"]] = (row, change, kind)
    # Open drift these links no longer show: repaired (by a webhook, a person, our outbox).
    healed = [
        d
        for (link_id, kind), d in open_rows.items()
        if link_id in seen_links and observed.get(link_id, (None, None, ""))[2] != kind
    ]
    for drift in healed:
        drift.repaired_at = now
        drift.detail = {**drift.detail, "repair": drift.detail.get("repair") or "in line again"}
    Drift.objects.bulk_update(healed, ["repaired_at", "detail"])
    for drift in healed:
        stats.count(stats.repaired, drift.kind)
    created = [
        Drift(
            tenant_id=integration.tenant_id,
            integration=integration,
            link_id=row["id"],
            kind=kind,
            reference=row["reference"],
            remote_key=row["remote_key"] or row["remote_id"],
            finding_id=row["finding_id"],
            detected_at=now,
            detail=_detail(row, change),
        )
        for link_id, (row, change, kind) in observed.items()
        if (link_id, kind) not in open_rows
    ]
    Drift.objects.bulk_create(created)
    for drift in created:
        stats.count(stats.detected, drift.kind)
    # Repair every drift these links still show (new or left open by an earlier run).
    drifts = {d.link_id: d for d in created}
    drifts.update(
        {d.link_id: d for d in open_rows.values() if d not in healed and d.link_id in observed}
    )
    repaired = _repair(integration, observed, drifts, now)
    for drift in repaired:
        stats.count(stats.repaired, drift.kind)
    _audit(integration, created, healed + repaired)


def _detail(row: dict, change: RemoteChange | None) -> dict:
    detail = {"finding_status": row["finding__status"], "link_state": row["state"]}
    if change is not None:
        detail.update(
            remote_status=change.status,
            remote_category=change.status_category,
            remote_resolution=change.resolution,
        )
    return detail


def _repair(integration, observed, drifts: dict[int, Drift], now) -> list[Drift]:
    """Repair what can be repaired now; the drift rows repaired (repaired_at set)."""
    repaired: list[Drift] = []
    closes: list[NewMessage] = []
    applied: list[tuple[Drift, RemoteChange]] = []
    gone: list[Drift] = []
    queued: list[Drift] = []
    for link_id, drift in drifts.items():
        row, change, kind = observed[link_id]
        if kind == DriftKind.TICKET_CLOSED_FINDING_OPEN:
            applied.append((drift, change))
        elif kind == DriftKind.FINDING_CLOSED_TICKET_OPEN:
            if drift.detail.get("repair") != "close queued":
                closes.append(_close_message(integration, row, drift))
                drift.detail = {**drift.detail, "repair": "close queued"}
                queued.append(drift)
        else:
            gone.append(drift)
    if applied:
        repaired += _apply_statuses(integration, applied, now)
    if closes:
        outbox.enqueue(closes)
        Drift.objects.bulk_update(queued, ["detail"])
    if gone:
        repaired += _forget_links(gone, observed, now)
    return repaired


def _close_message(integration, row: dict, drift: Drift) -> NewMessage:
    return NewMessage(
        integration=integration,
        kind=MessageKind.TRANSITION,
        reference=row["reference"],
        payload={
            "status": "closed",
            "comment": "FixOps reconciliation: the finding is closed in FixOps "
            f"({row['finding__status']}); closing the ticket.",
            "finding_id": row["finding_id"],
        },
        # One close per drift row, whatever the number of runs that see it.
        idempotency_key=f"{integration.pk}:transition:{row['reference']}:drift{drift.pk}",
    )


def _apply_statuses(integration, applied: list[tuple[Drift, RemoteChange]], now) -> list[Drift]:
    """Apply the tickets' statuses as webhooks would have; drift whose finding is no longer
    active is repaired, the rest stays open with what happened in its detail."""
    result = apply_changes(integration, [change for _, change in applied], source="reconcile")
    effects = {o.change.remote_id: o.effect or o.outcome for o in result.outcomes}
    repaired = []
    for drift, change in applied:
        drift.detail = {**drift.detail, "repair": effects.get(change.remote_id, "")}
    still_active = set(
        Finding.objects.filter(
            pk__in=[d.finding_id for d, _ in applied], status__in=ACTIVE
        ).values_list("pk", flat=True)
    )
    for drift, _ in applied:
        if drift.finding_id not in still_active:
            drift.repaired_at = now
            repaired.append(drift)
    Drift.objects.bulk_update([d for d, _ in applied], ["detail", "repaired_at"])
    return repaired


def _forget_links(gone: list[Drift], observed, now) -> list[Drift]:
    """Remove the links of deleted tickets; drift of a closed finding needs nothing more (a
    grouped ticket's stays open until the group is linked again: it may cover active ones)."""
    repaired = []
    for drift in gone:
        row = observed[drift.link_id][0]
        drift.detail = {**drift.detail, "repair": "link removed", "remote_id": row["remote_id"]}
        if row["finding_id"] is not None and row["finding__status"] not in ACTIVE:
            drift.repaired_at = now
            repaired.append(drift)
    Drift.objects.bulk_update(gone, ["detail", "repaired_at"])
    ExternalLink.objects.filter(pk__in=[d.link_id for d in gone]).delete()
    return repaired


def _repair_replaced(integration: Integration, stats: ReconcileStats) -> None:
    """Open `ticket_deleted` drift whose reference has a ticket again (a new link): repaired."""
    now = timezone.now()
    replaced = list(
        Drift.objects.filter(
            integration=integration,
            kind=DriftKind.TICKET_DELETED,
            repaired_at__isnull=True,
            link__isnull=True,
            reference__in=ExternalLink.objects.filter(integration=integration).values("reference"),
        )
    )
    for drift in replaced:
        drift.repaired_at = now
        drift.detail = {**drift.detail, "repair": "new ticket linked"}
        stats.count(stats.repaired, drift.kind)
    Drift.objects.bulk_update(replaced, ["repaired_at", "detail"])
    _audit(integration, [], replaced)


def _audit(integration: Integration, created: list[Drift], repaired: list[Drift]) -> None:
    def facts(d: Drift) -> dict:
        return {
            "kind": d.kind,
            "reference": d.reference,
            "remote_key": d.remote_key,
            "finding_id": d.finding_id,
            "repair": d.detail.get("repair", ""),
        }

    if created:
        audit_record_many(
            tenant=integration.tenant,
            actor=ACTOR,
            action="drift.detected",
            target_type="connectors.drift",
            changes=[(d.pk, None, facts(d)) for d in created],
        )
    if repaired:
        audit_record_many(
            tenant=integration.tenant,
            actor=ACTOR,
            action="drift.repaired",
            target_type="connectors.drift",
            changes=[(d.pk, {"repaired_at": None}, facts(d)) for d in repaired],
        )
