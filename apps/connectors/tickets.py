"""Tickets for findings: what FixOps queues when findings appear, change status or drift.

Every function runs in the caller's transaction: the messages commit with the change that
causes them. Bulk: a few queries whatever the number of findings.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Q
from django.utils import timezone

from apps.connectors import delivery, outbox
from apps.connectors.base import Ticket
from apps.connectors.delivery import FINDING_COLUMNS, finding_reference, finding_ticket
from apps.connectors.models import (
    UNFINISHED,
    ExternalLink,
    Grouping,
    Integration,
    MessageKind,
    OutboxMessage,
)
from apps.connectors.outbox import NewMessage
from apps.connectors.registry import TRACKER_KINDS
from apps.findings.lifecycle import ACTIVE
from apps.findings.models import Finding, FindingStatus

# Finding statuses whose ticket should be closed; ACTIVE ones want it open.
CLOSING = frozenset(
    {
        FindingStatus.FIXED,
        FindingStatus.VERIFIED,
        FindingStatus.RISK_ACCEPTED,
        FindingStatus.FALSE_POSITIVE,
    }
)


def _tracker_integrations(tenant_id: int) -> list[Integration]:
    return list(
        Integration.objects.filter(tenant_id=tenant_id, enabled=True, kind__in=TRACKER_KINDS)
    )


def _known_references(integrations: list[Integration], references: set[str]) -> set[tuple]:
    """(integration id, reference) pairs that have a remote object or a live message. A
    delivered message without a link means the link was removed (reconciliation found the
    ticket deleted): the reference is free again, so an active finding gets a new ticket."""
    if not references:
        return set()
    ids = [i.pk for i in integrations]
    refs = sorted(references)
    known = set(
        ExternalLink.objects.filter(integration_id__in=ids, reference__in=refs).values_list(
            "integration_id", "reference"
        )
    )
    keys = [outbox.ordering_key(i, r) for i in ids for r in refs]
    known |= set(
        OutboxMessage.objects.filter(ordering_key__in=keys, status__in=UNFINISHED).values_list(
            "integration_id", "reference"
        )
    )
    return known


def _group_members(integration: Integration, rows: list[dict]) -> dict[str, list[dict]]:
    """Every active finding of the touched groups (one query), keyed by group reference."""
    by_app: dict[int, set] = defaultdict(set)
    for row in rows:
        by_app[row["application_id"]].add(delivery.group_key(integration.grouping, row)[1])
    condition = Q()
    for application_id, values in by_app.items():
        if integration.grouping == Grouping.RULE:
            condition |= Q(application_id=application_id, rule_id__in=sorted(values))
        else:
            condition |= Q(application_id=application_id) & (
                Q(component_purl__in=sorted(values))
                | Q(component_name__in=sorted(values))
                | Q(path__in=sorted(values))
            )
    members: dict[str, list[dict]] = defaultdict(list)
    query = Finding.objects.filter(condition, tenant_id=integration.tenant_id, status__in=ACTIVE)
    for values in query.values(*FINDING_COLUMNS):
        # The OR above may match other groups' findings too; their reference says which.
        members[finding_reference(integration.grouping, values)].append(values)
    return members


def _wants_ticket(integration: Integration, row: dict) -> bool:
    return row["status"] in ACTIVE and delivery.meets_threshold(integration, row)


def _finding_messages(
    integration: Integration,
    rows: dict[int, dict],
    *,
    opened: list[int],
    changes: dict[int, str],
    known: set[tuple],
    cause: str,
    comment: str,
) -> list[NewMessage]:
    """Messages for one integration: new tickets for `opened` findings at/above its bar, and
    open/close for `changes` (finding id -> "open" | "closed") of findings with a ticket."""
    messages: list[NewMessage] = []

    def message(kind: str, reference: str, payload: dict) -> NewMessage:
        return NewMessage(
            integration=integration,
            kind=kind,
            reference=reference,
            payload=payload,
            idempotency_key=f"{integration.pk}:{kind}:{reference}:{cause}",
        )

    if integration.grouping == Grouping.FINDING:
        for finding_id in opened:
            row = rows.get(finding_id)
            if row is None or not _wants_ticket(integration, row):
                continue
            reference = finding_reference(Grouping.FINDING, row)
            ticket = finding_ticket(integration, reference, [row])
            payload = {"ticket": delivery.ticket_to_payload(ticket), "finding_id": finding_id}
            messages.append(message(MessageKind.UPSERT, reference, payload))
        for finding_id, state in changes.items():
            row = rows.get(finding_id)
            if row is None:
                continue
            reference = finding_reference(Grouping.FINDING, row)
            if (integration.pk, reference) in known:
                payload = {"status": state, "comment": comment, "finding_id": finding_id}
                messages.append(message(MessageKind.TRANSITION, reference, payload))
            elif state == "open" and _wants_ticket(integration, row):
                ticket = finding_ticket(integration, reference, [row])
                payload = {"ticket": delivery.ticket_to_payload(ticket), "finding_id": finding_id}
                messages.append(message(MessageKind.UPSERT, reference, payload))
        return messages
    # Grouped tickets: one upsert per touched group, saying what the group is now (its
    # active findings; closed when none is left).
    touched = [rows[i] for i in opened if i in rows and _wants_ticket(integration, rows[i])]
    touched += [
        rows[i]
        for i in changes
        if i in rows and (integration.pk, finding_reference(integration.grouping, rows[i])) in known
    ]
    return messages + _group_upserts(integration, touched, message)


def _group_upserts(integration: Integration, touched: list[dict], message) -> list[NewMessage]:
    """One upsert per group the `touched` rows belong to, saying what the group is now (its
    active findings; closed when none is left)."""
    if not touched:
        return []
    messages = []
    members = _group_members(integration, touched)
    for reference in {finding_reference(integration.grouping, r) for r in touched}:
        active = members.get(reference, [])
        if active:
            ticket = finding_ticket(integration, reference, active)
        else:
            lead = next(
                r for r in touched if finding_reference(integration.grouping, r) == reference
            )
            ticket = finding_ticket(integration, reference, [lead])
            ticket = Ticket(**{**ticket.__dict__, "status": "closed"})
        payload = {"ticket": delivery.ticket_to_payload(ticket)}
        messages.append(message(MessageKind.UPSERT, reference, payload))
    return messages


def findings_changed(
    *,
    tenant_id: int,
    cause: str,
    opened: list[int] = (),
    changes: dict[int, str] | None = None,
    comment: str = "",
) -> int:
    """Enqueue tickets for new findings and open/close for status changes, for every
    tracker integration of the tenant. Bulk: a few queries whatever the number of findings.
    `cause` makes the idempotency keys ("scan42", "event17")."""
    changes = changes or {}
    if not opened and not changes:
        return 0
    integrations = _tracker_integrations(tenant_id)
    if not integrations:
        return 0
    rows = delivery.finding_rows([*opened, *changes])
    references = {
        finding_reference(i.grouping, rows[f]) for i in integrations for f in changes if f in rows
    }
    known = _known_references(integrations, references)
    messages = []
    for integration in integrations:
        messages += _finding_messages(
            integration,
            rows,
            opened=list(opened),
            changes=changes,
            known=known,
            cause=cause,
            comment=comment,
        )
    return outbox.enqueue(messages)


def enqueue_missing(*, integration: Integration) -> int:
    """What `sync` adds: tickets for active findings at/above the bar that have none, and
    open/close for tickets whose state differs from their finding's."""
    if integration.kind not in TRACKER_KINDS:
        return 0
    active = Finding.objects.filter(tenant_id=integration.tenant_id, status__in=ACTIVE)
    severities = [
        s
        for s, rank in delivery.SEVERITY_RANK.items()
        if rank >= delivery.SEVERITY_RANK.get(integration.min_severity, 0)
    ]
    active = active.filter(severity__in=severities)
    if integration.min_risk is not None:
        active = active.filter(Q(risk_score__gte=integration.min_risk) | Q(risk_score__isnull=True))
    candidates = delivery.finding_rows(list(active.values_list("id", flat=True)))
    references = {f: finding_reference(integration.grouping, r) for f, r in candidates.items()}
    known = _known_references([integration], set(references.values()))
    opened = [f for f, ref in references.items() if (integration.pk, ref) not in known]
    changes: dict[int, str] = {}
    links = ExternalLink.objects.filter(integration=integration, finding__isnull=False)
    live = set(
        OutboxMessage.objects.filter(integration=integration, status__in=UNFINISHED).values_list(
            "reference", flat=True
        )
    )
    for finding_id, state, status, reference in links.values_list(
        "finding_id", "state", "finding__status", "reference"
    ):
        known.add((integration.pk, reference))
        wanted = "open" if status in ACTIVE else "closed" if status in CLOSING else state
        if wanted != state and reference not in live:
            changes[finding_id] = wanted
    rows = {**candidates, **delivery.finding_rows([f for f in changes if f not in candidates])}
    stamp = timezone.now().strftime("%Y%m%d%H%M%S%f")
    messages = _finding_messages(
        integration,
        rows,
        opened=opened,
        changes=changes,
        known=known | {(integration.pk, r) for r in live},
        cause=f"sync{stamp}",
        comment="FixOps sync: status brought in line with FixOps",
    )
    return outbox.enqueue(messages)


def findings_comment(
    *, tenant_id: int, finding_ids: list[int], lines: dict[int, str], cause: str
) -> int:
    """Comment on the existing tickets of these findings (one comment per ticket, naming each
    of its findings with its line from `lines`); findings without a ticket are skipped, no
    ticket is opened for them. Idempotent per (integration, ticket, `cause`)."""
    integrations = _tracker_integrations(tenant_id)
    if not integrations or not finding_ids:
        return 0
    rows = delivery.finding_rows(finding_ids)
    messages = []
    for integration in integrations:
        by_reference: dict[str, list[int]] = defaultdict(list)
        for finding_id in finding_ids:
            if finding_id in rows:
                reference = finding_reference(integration.grouping, rows[finding_id])
                by_reference[reference].append(finding_id)
        known = _known_references([integration], set(by_reference))
        for reference, ids in sorted(by_reference.items()):
            if (integration.pk, reference) not in known:
                continue
            body = "\n".join(lines.get(finding_id, f"finding {finding_id}") for finding_id in ids)
            messages.append(
                NewMessage(
                    integration=integration,
                    kind=MessageKind.COMMENT,
                    reference=reference,
                    payload={"body": body[:30_000], "finding_ids": ids},
                    idempotency_key=f"{integration.pk}:comment:{reference}:{cause}",
                )
            )
    return outbox.enqueue(messages)


def findings_request(*, tenant_id: int, finding_ids: list[int], cause: str) -> dict[str, int]:
    """A person asked for tickets: for every tracker integration of the tenant, an upsert of
    the ticket covering each finding, saying what it should say now (opened when missing,
    brought up to date when it exists), whatever the integration's severity bar (someone
    chose these findings). A finding that needs no work and has no ticket gets none.
    Returns {"queued": messages written, "skipped": findings closed without a ticket}."""
    integrations = _tracker_integrations(tenant_id)
    rows = delivery.finding_rows(finding_ids)
    messages: list[NewMessage] = []
    skipped: set[int] = set()
    for integration in integrations:

        def message(kind: str, reference: str, payload: dict, integration=integration):
            return NewMessage(
                integration=integration,
                kind=kind,
                reference=reference,
                payload=payload,
                idempotency_key=f"{integration.pk}:{kind}:{reference}:{cause}",
            )

        references = {f: finding_reference(integration.grouping, r) for f, r in rows.items()}
        known = _known_references([integration], set(references.values()))
        wanted = []
        for finding_id, row in rows.items():
            if row["status"] in ACTIVE or (integration.pk, references[finding_id]) in known:
                wanted.append(row)
            else:
                skipped.add(finding_id)
        if integration.grouping != Grouping.FINDING:
            messages += _group_upserts(integration, wanted, message)
            continue
        for row in wanted:
            reference = references[row["id"]]
            ticket = finding_ticket(integration, reference, [row])
            if row["status"] not in ACTIVE:
                ticket = Ticket(**{**ticket.__dict__, "status": "closed"})
            payload = {"ticket": delivery.ticket_to_payload(ticket), "finding_id": row["id"]}
            messages.append(message(MessageKind.UPSERT, reference, payload))
    return {"queued": outbox.enqueue(messages), "skipped": len(skipped)}
