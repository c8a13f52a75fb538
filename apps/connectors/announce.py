"""Decisions and notifications: what FixOps posts to chat, check runs and report pages.

Call inside the transaction of the cause: the messages commit with it.
"""

from __future__ import annotations

from django.db import transaction

from apps.connectors import delivery, outbox
from apps.connectors.base import Ticket
from apps.connectors.models import Integration, MessageKind
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
