"""Notification rules: which events reach which channel, queued through the outbox.

A rule names event kinds (`NotificationEvent`), a minimum severity and one integration (Slack,
Teams, e-mail, a signed webhook, or any other kind). `notification_queue` is called inside the
transaction of the cause (or of the platform event handler that reports it) and writes one
outbox message per matching rule, keyed by rule + cause: the same cause queued again (an event
handled twice, a sweeper retry) writes nothing, so every rule sees an event exactly once.
Two enabled rules that route the same event to the same integration send it once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from apps.connectors import delivery, outbox
from apps.connectors.base import Ticket
from apps.connectors.models import (
    Integration,
    MessageKind,
    NotificationEvent,
    NotificationRule,
)
from apps.connectors.outbox import NewMessage
from apps.findings.models.finding import SEVERITY_RANK

EVENTS: tuple[str, ...] = tuple(NotificationEvent.values)


def rules_matching(*, tenant_id: int, event: str, severity: str) -> list[NotificationRule]:
    """Enabled rules of the tenant for `event` whose bar `severity` meets, on enabled
    integrations (oldest rule first)."""
    rank = SEVERITY_RANK.get(severity, 0)
    rules = (
        NotificationRule.objects.filter(
            tenant_id=tenant_id, enabled=True, integration__enabled=True
        )
        .select_related("integration")
        .order_by("pk")
    )
    return [
        rule
        for rule in rules
        if event in (rule.events or []) and rank >= SEVERITY_RANK.get(rule.min_severity, 0)
    ]


def message_id(idempotency_key: str) -> str:
    """A stable id for one notification (the Standard Webhooks `webhook-id`: no dots)."""
    return "msg_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


def notification_queue(
    *,
    tenant_id: int,
    event: str,
    cause: str,
    severity: str,
    reference: str,
    render: Callable[[Integration], Ticket],
    data: dict | None = None,
) -> int:
    """Queue `event` (caused by `cause`, e.g. "sla-17") to every matching rule's channel;
    `render` builds the message for one integration. Returns how many messages were new."""
    if event not in EVENTS:
        raise ValueError(f"unknown notification event {event!r}")
    severity = severity if severity in delivery.SEVERITY_RANK else "info"
    messages: list[NewMessage] = []
    seen: set[int] = set()
    for rule in rules_matching(tenant_id=tenant_id, event=event, severity=severity):
        integration = rule.integration
        if integration.pk in seen:
            continue
        seen.add(integration.pk)
        key = f"{integration.pk}:rule{rule.pk}:{event}:{cause}"
        ticket = render(integration)
        extra = {
            **ticket.extra,
            "event": event,
            "message_id": message_id(key),
            "occurred_at": timezone.now().isoformat(),
            "data": data or {},
        }
        payload = delivery.ticket_to_payload(_with(ticket, severity=severity, extra=extra))
        messages.append(
            NewMessage(
                integration=integration,
                kind=MessageKind.UPSERT,
                reference=reference,
                payload={"ticket": payload, "event": event, "rule_id": rule.pk},
                idempotency_key=key[:300],
            )
        )
    if not messages:
        return 0
    with transaction.atomic():
        return outbox.enqueue(messages)


def _with(ticket: Ticket, **changes) -> Ticket:
    values = delivery.ticket_to_payload(ticket)
    values.update(changes)
    return delivery.ticket_from_payload(values)
