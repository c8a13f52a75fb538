"""E-mail: a ticket as a plain-text message (subject, body with the link back, headers)."""

from __future__ import annotations

from apps.connectors.base import Ticket

ACTIONS = {"created": "", "updated": "Updated: ", "closed": "Closed: ", "reopened": "Reopened: "}


def subject(prefix: str, ticket: Ticket, action: str) -> str:
    """One line (no header injection: whitespace runs, newlines included, become a space)."""
    text = f"{prefix} {ACTIONS.get(action, '')}{ticket.title}"
    return " ".join(text.split())[:250]


def body(ticket: Ticket) -> str:
    return ticket.body + (f"\n\n{ticket.url}" if ticket.url else "")


def headers(ticket: Ticket) -> dict[str, str]:
    return {"X-FixOps-Reference": ticket.reference, "X-FixOps-Severity": ticket.severity}
