"""Rows for the outbox tests."""

from __future__ import annotations

from apps.connectors.base import Ticket
from apps.connectors.delivery import ticket_to_payload
from apps.connectors.models import MessageKind
from apps.connectors.outbox import NewMessage, enqueue


def ticket_message(integration, n: int, *, title: str = "", key: str = "") -> NewMessage:
    reference = f"fixops-t-{integration.pk}-{n}"
    ticket = Ticket(reference=reference, title=title or f"ticket {n}", body=f"body {n}")
    return NewMessage(
        integration=integration,
        kind=MessageKind.UPSERT,
        reference=reference,
        payload={"ticket": ticket_to_payload(ticket)},
        idempotency_key=key or f"test:{integration.pk}:{n}",
    )


def enqueue_tickets(integration, count: int, start: int = 0) -> int:
    return enqueue(ticket_message(integration, n) for n in range(start, start + count))
