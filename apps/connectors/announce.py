"""Decisions and notifications: what FixOps posts to chat, check runs and report pages.

Call inside the transaction of the cause: the messages commit with it. Chat and other
notification channels receive only what a tenant's notification rules ask for
(notifications.py); check runs and report pages follow their integrations directly.
"""

from __future__ import annotations

from apps.connectors import delivery, outbox
from apps.connectors.base import Ticket
from apps.connectors.models import Integration, MessageKind, NotificationEvent
from apps.connectors.notifications import notification_queue
from apps.connectors.outbox import NewMessage
from apps.connectors.registry import Kind
from apps.tenants.models import Tenant


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


# Decision outcomes that are notification events.
DECISION_EVENTS = {
    "BLOCK": NotificationEvent.DECISION_BLOCK,
    "NEEDS_REVIEW": NotificationEvent.DECISION_NEEDS_REVIEW,
}


def decision_announce(decision) -> int:
    """Call inside the decision's transaction: BLOCK / NEEDS_REVIEW reach the channels of the
    tenant's notification rules, a decision with a commit gets a GitHub check run, and
    Confluence's application report page is updated. Returns how many messages were queued."""
    tenant_id = decision.tenant_id
    reference = delivery.decision_reference(decision.pk)
    queued = 0
    if decision.outcome in DECISION_EVENTS:
        queued += notification_queue(
            tenant_id=tenant_id,
            event=DECISION_EVENTS[decision.outcome],
            cause=f"decision-{decision.pk}",
            severity=delivery.SEVERITY_OF_OUTCOME.get(decision.outcome, "info"),
            reference=reference,
            render=lambda integration: delivery.decision_ticket(integration, decision, reference),
            data={
                "decision_id": decision.pk,
                "outcome": decision.outcome,
                "application": decision.application.name,
                "commit": decision.commit or "",
                "branch": decision.branch or "",
            },
        )
    integrations = _integrations(tenant_id, {Kind.GITHUB, Kind.CONFLUENCE})
    if not integrations:
        return queued
    messages: list[NewMessage] = []
    locations: dict[int, dict] | None = None
    for integration in integrations:
        extra: dict = {}
        ref = reference
        if integration.kind == Kind.GITHUB:
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
                locations = delivery.finding_rows(ids) if ids else {}
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
    return queued + outbox.enqueue(messages)


def notify(
    tenant: Tenant,
    *,
    event: str,
    title: str,
    body: str,
    severity: str = "info",
    reference: str,
    cause: str,
    url: str = "",
    data: dict | None = None,
) -> int:
    """Queue a notice of `event` to the channels of the tenant's matching notification rules,
    once per rule and `cause`. `reference` names the message: a later notice with the same
    reference edits it where the channel can (Slack with a bot token)."""
    severity = severity if severity in delivery.SEVERITY_RANK else "info"

    def render(integration: Integration) -> Ticket:
        return Ticket(
            reference=reference,
            title=title[:250],
            body=body[:30_000],
            severity=severity,
            labels=("fixops", event[:50]),
            url=url,
        )

    return notification_queue(
        tenant_id=tenant.pk,
        event=event,
        cause=cause,
        severity=severity,
        reference=reference,
        render=render,
        data=data,
    )
