"""Writes for integrations and the outbox, and what FixOps sends when things change.

Every function that enqueues runs in the caller's transaction (or its own): the messages
commit with the change that causes them. Nothing here calls a vendor except
`integration_test` and `integration_sync`, which answer what the vendor said.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.connectors import delivery, drain, outbox, registry, templates
from apps.connectors.base import Ticket
from apps.connectors.delivery import FINDING_COLUMNS, finding_reference, finding_ticket
from apps.connectors.models import (
    TRACKER_KINDS,
    UNFINISHED,
    ExternalLink,
    Grouping,
    Integration,
    Kind,
    MessageKind,
    MessageStatus,
    OutboxMessage,
)
from apps.connectors.outbox import NewMessage
from apps.findings.lifecycle import ACTIVE
from apps.findings.models import Application, Finding, FindingStatus
from apps.tenants.models import Tenant
from fixops.platform import bulk
from fixops.platform.errors import Conflict, Invalid, UpstreamFailed
from fixops.platform.http import breaker
from fixops.platform.http.errors import OutboundError
from fixops.platform.http.ssrf import UnsafeURL, check_url

INTEGRATION_FIELDS = (
    "kind",
    "name",
    "base_url",
    "credentials",
    "settings",
    "min_severity",
    "min_risk",
    "grouping",
    "templates",
    "enabled",
)
# Finding statuses whose ticket should be closed; ACTIVE ones want it open.
CLOSING = frozenset(
    {
        FindingStatus.FIXED,
        FindingStatus.VERIFIED,
        FindingStatus.RISK_ACCEPTED,
        FindingStatus.FALSE_POSITIVE,
    }
)


# --- Integrations ------------------------------------------------------------------------------


def integration_check_config(integration: Integration, credentials: dict) -> None:
    """Invalid (details per field) unless the kind's config, the templates and every URL
    (base_url, credential URLs such as a Slack webhook) pass."""
    errors = registry.validate_config(integration.kind, credentials, integration.settings)
    errors.update(templates.validate(integration.templates))
    urls = [("base_url", integration.base_url)] + [
        (f"credentials.{k}", v)
        for k, v in credentials.items()
        if isinstance(v, str) and k.endswith("url")
    ]
    for field, url in urls:
        try:
            check_url(url)
        except UnsafeURL as exc:
            errors[field] = str(exc)
    if errors:
        raise Invalid(
            "The integration configuration is not valid: "
            + "; ".join(f"{k}: {v}" for k, v in sorted(errors.items())),
            code="invalid_integration",
            details=errors,
        )


def _save(integration: Integration) -> Integration:
    try:
        with transaction.atomic():
            integration.save()
    except IntegrityError:
        raise Conflict(
            f"An integration named {integration.name!r} already exists.",
            code="conflict",
            details={"name": ["must be unique within the tenant"]},
        ) from None
    return integration


def integration_create(
    *, tenant: Tenant, kind: str, name: str, base_url: str, credentials: dict, **fields: Any
) -> Integration:
    """Configure a vendor endpoint (checked: kind's config, templates, SSRF); 409 on a name
    already used."""
    unknown = set(fields) - set(INTEGRATION_FIELDS)
    if unknown:
        raise TypeError(f"unknown integration fields: {sorted(unknown)}")
    integration = Integration(tenant=tenant, kind=kind, name=name, base_url=base_url, **fields)
    integration_check_config(integration, credentials)
    integration.credentials = credentials
    return _save(integration)


def integration_update(*, integration: Integration, **fields: Any) -> Integration:
    """Change the given fields; credentials are replaced only when given."""
    unknown = set(fields) - set(INTEGRATION_FIELDS)
    if unknown:
        raise TypeError(f"unknown integration fields: {sorted(unknown)}")
    credentials = fields.pop("credentials", None)
    for name, value in fields.items():
        setattr(integration, name, value)
    integration_check_config(
        integration, integration.credentials if credentials is None else credentials
    )
    if credentials is not None:
        integration.credentials = credentials
    return _save(integration)


def integration_delete(*, integration: Integration) -> None:
    """Delete an integration with its queue and links."""
    with transaction.atomic():
        integration.delete()


def integration_breaker_reset(*, integration: Integration) -> None:
    """Close the integration's circuit breaker by hand (deliveries resume at once)."""
    breaker.reset(Integration.objects.filter(pk=integration.pk))


def _connector(integration: Integration):
    try:
        return registry.connector_for(
            integration.kind,
            base_url=integration.base_url,
            credentials=integration.credentials,
            settings=integration.settings,
        )
    except OutboundError as exc:
        raise Invalid(str(exc), code="invalid_integration") from None


def integration_test(*, integration: Integration) -> str:
    """Check the credentials against the vendor; what it said, or 502 with its message."""
    try:
        return _connector(integration).test_connection()
    except OutboundError as exc:
        raise UpstreamFailed(
            f"{integration.get_kind_display()} answered: {exc}",
            code="vendor_error",
            details={"vendor_status": exc.status, "permanent": exc.permanent},
        ) from None


def integration_sync(*, integration: Integration, budget_seconds: float | None = None) -> dict:
    """Enqueue everything not yet in sync for this integration, then deliver its queue now
    (breaker or not); answers the counts of work actually done."""
    from django.conf import settings

    with transaction.atomic():
        queued = enqueue_missing(integration=integration)
    stats = drain.drain(
        integration_id=integration.pk,
        ignore_breaker=True,
        budget_seconds=settings.FIXOPS_OUTBOX_SYNC_SECONDS
        if budget_seconds is None
        else budget_seconds,
    )
    left = OutboxMessage.objects.filter(integration=integration, status__in=UNFINISHED).count()
    return {
        "queued": queued,
        "delivered": stats.delivered,
        "failed": stats.retried + stats.dead,
        "dead": stats.dead,
        "pending": left,
    }


# --- Findings ----------------------------------------------------------------------------------


def _tracker_integrations(tenant_id: int) -> list[Integration]:
    return list(
        Integration.objects.filter(tenant_id=tenant_id, enabled=True, kind__in=TRACKER_KINDS)
    )


def _finding_rows(ids: list[int]) -> dict[int, dict]:
    """The ticket columns of these findings (one array query, plus one for app names)."""
    columns = [c for c in FINDING_COLUMNS if c != "application__name"]
    rows = bulk.values_for_ids(Finding.objects.all(), "id", sorted(set(ids)), *columns)
    found = {row[0]: dict(zip(columns, row, strict=True)) for row in rows}
    names = dict(
        Application.objects.filter(
            pk__in={r["application_id"] for r in found.values()}
        ).values_list("id", "name")
    )
    for row in found.values():
        row["application__name"] = names.get(row["application_id"], "")
    return found


def _known_references(integrations: list[Integration], references: set[str]) -> set[tuple]:
    """(integration id, reference) pairs that have a remote object or a live message."""
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
        OutboxMessage.objects.filter(ordering_key__in=keys)
        .exclude(status=MessageStatus.DEAD)
        .values_list("integration_id", "reference")
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
    if not touched:
        return messages
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
    rows = _finding_rows([*opened, *changes])
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


def scan_findings_changed(
    *, scan, opened: list[int], reopened: list[int], closed: list[int]
) -> int:
    """Hook of the ingestion: one call per scan, inside its transaction."""
    changes = {pk: "open" for pk in reopened}
    changes.update({pk: "closed" for pk in closed})
    return findings_changed(
        tenant_id=scan.tenant_id,
        cause=f"scan{scan.pk}",
        opened=opened,
        changes=changes,
        comment=(
            f"FixOps scan {scan.pk}: "
            + ("reported again" if reopened and not closed else "status changed by a new scan")
        ),
    )


def finding_status_changed(
    *, finding: Finding, previous: str, event_id: int, actor: str, reason: str = ""
) -> int:
    """Hook of finding_transition: open or close the finding's tickets when its status moves
    between needing work and not."""
    was_open = previous in ACTIVE
    now_open = finding.status in ACTIVE
    if was_open == now_open or (not now_open and finding.status not in CLOSING):
        return 0
    comment = f"FixOps: {previous} -> {finding.status} by {actor}" + (
        f": {reason}" if reason else ""
    )
    return findings_changed(
        tenant_id=finding.tenant_id,
        cause=f"event{event_id}",
        changes={finding.pk: "open" if now_open else "closed"},
        comment=comment[:2000],
    )


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
    candidates = _finding_rows(list(active.values_list("id", flat=True)))
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
    rows = {**candidates, **_finding_rows([f for f in changes if f not in candidates])}
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


# --- Decisions and notifications ---------------------------------------------------------------


def _integrations(tenant_id: int, kinds: set[str]) -> list[Integration]:
    return list(Integration.objects.filter(tenant_id=tenant_id, enabled=True, kind__in=kinds))


def _repository_matches(integration: Integration, application) -> bool:
    """A GitHub integration posts check runs only for the application of its repository
    (settings.repository "owner/name"), when the application names a repository."""
    repo_url = (getattr(application, "repo_url", "") or "").lower().rstrip("/")
    repository = str(integration.settings.get("repository", "")).lower().strip("/")
    if not repo_url or not repository:
        return True
    return repo_url.removesuffix(".git").endswith(f"/{repository}")


def decision_announce(decision) -> int:
    """Call inside the decision's transaction: BLOCK / NEEDS_REVIEW post to Slack, a decision
    with a commit gets a GitHub check run, and Confluence's application report page is
    updated. Returns how many messages were queued."""
    tenant_id = decision.tenant_id
    integrations = _integrations(tenant_id, {Kind.SLACK, Kind.GITHUB, Kind.CONFLUENCE})
    if not integrations:
        return 0
    reference = delivery.decision_reference(decision.pk)
    messages: list[NewMessage] = []
    locations: dict[int, dict] | None = None
    for integration in integrations:
        extra: dict = {}
        ref = reference
        if integration.kind == Kind.SLACK:
            if decision.outcome not in ("BLOCK", "NEEDS_REVIEW"):
                continue
        elif integration.kind == Kind.GITHUB:
            if not decision.commit or not _repository_matches(integration, decision.application):
                continue
            if locations is None:
                ids = sorted(
                    {
                        int(f)
                        for r in decision.reasons or []
                        if isinstance(r, dict)
                        for f in r.get("finding_ids") or []
                        if str(f).isdigit()
                    }
                )
                locations = _finding_rows(ids) if ids else {}
                locations = {k: v for k, v in locations.items() if v["tenant_id"] == tenant_id}
            extra = {
                "head_sha": decision.commit,
                "conclusion": delivery.CONCLUSIONS.get(decision.outcome, "neutral"),
                "annotations": delivery.annotations(decision, locations),
            }
        else:
            ref = delivery.application_report_reference(decision.application_id)
        ticket = delivery.decision_ticket(integration, decision, ref, extra)
        messages.append(
            NewMessage(
                integration=integration,
                kind=MessageKind.UPSERT,
                reference=ref,
                payload={"ticket": delivery.ticket_to_payload(ticket), "decision_id": decision.pk},
                idempotency_key=f"{integration.pk}:decision:{decision.pk}",
            )
        )
    return outbox.enqueue(messages)


def notify(
    tenant: Tenant,
    *,
    event: str,
    title: str,
    body: str,
    severity: str = "info",
    reference: str,
    url: str = "",
) -> int:
    """Queue a chat message to every enabled Slack integration of `tenant`. `reference`
    names the message: notifying the same reference again edits it."""
    messages = []
    for integration in _integrations(tenant.pk, {Kind.SLACK}):
        ticket = Ticket(
            reference=reference,
            title=title[:250],
            body=body[:30_000],
            severity=severity if severity in delivery.SEVERITY_RANK else "info",
            labels=("fixops", event[:50]),
            url=url,
        )
        messages.append(
            NewMessage(
                integration=integration,
                kind=MessageKind.UPSERT,
                reference=reference,
                payload={"ticket": delivery.ticket_to_payload(ticket), "event": event},
                idempotency_key=f"{integration.pk}:notify:{event}:{reference}",
            )
        )
    with transaction.atomic():
        return outbox.enqueue(messages)


# --- Operating the queue -----------------------------------------------------------------------


def message_replay(*, message: OutboxMessage, actor: str) -> OutboxMessage:
    """Send a dead message again, from a fresh attempt count."""
    with transaction.atomic():
        locked = OutboxMessage.objects.select_for_update().get(pk=message.pk)
        if locked.status != MessageStatus.DEAD:
            raise Conflict(
                f"Only dead messages can be replayed; this one is {locked.status}.",
                code="invalid_state",
            )
        locked.status = MessageStatus.PENDING
        locked.attempts = 0
        locked.next_attempt_at = timezone.now()
        locked.last_error = f"replayed by {actor}; before: {locked.last_error}"[:4000]
        locked.updated_at = timezone.now()
        locked.save(
            update_fields=["status", "attempts", "next_attempt_at", "last_error", "updated_at"]
        )
        outbox.trigger_drain_after_commit()
    return locked


def message_cancel(*, message: OutboxMessage, actor: str) -> OutboxMessage:
    """Give up on a message that has not been delivered (it becomes dead, replayable)."""
    with transaction.atomic():
        locked = OutboxMessage.objects.select_for_update().get(pk=message.pk)
        if locked.status not in (MessageStatus.PENDING, MessageStatus.FAILED):
            raise Conflict(
                f"Only pending or failed messages can be cancelled; this one is {locked.status}.",
                code="invalid_state",
            )
        locked.status = MessageStatus.DEAD
        locked.last_error = f"cancelled by {actor}; before: {locked.last_error}"[:4000]
        locked.updated_at = timezone.now()
        locked.save(update_fields=["status", "last_error", "updated_at"])
    return locked
