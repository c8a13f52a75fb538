"""Signed webhook: a ticket as a Standard Webhooks event (type, webhook-id, data)."""

from __future__ import annotations

import hashlib

from apps.connectors.base import Ticket

# The spec recommends payloads under 20 KB; the body text is clipped to stay near that.
MAX_BODY_CHARS = 15_000


def event(ticket: Ticket, action: str) -> tuple[str, str, str, dict]:
    """(type, webhook-id, timestamp, data) of one delivery: the timestamp is when the event
    happened (empty: now). The id of a notification is derived from its
    outbox idempotency key (notifications.message_id), so every retry carries the same one;
    follow-ups (close, reopen, comment) get one derived from their content."""
    extra = ticket.extra or {}
    name = str(extra.get("event") or "notification")
    message_id = str(extra.get("message_id") or "")
    if action not in ("created", "updated") or not message_id:
        message_id = _content_id(ticket, action)
    data = {
        "reference": ticket.reference,
        "title": ticket.title,
        "body": ticket.body[:MAX_BODY_CHARS],
        "severity": ticket.severity,
        "status": ticket.status,
        "url": ticket.url,
        "action": action,
        "event": extra.get("data") or {},
    }
    return f"fixops.{name}", message_id, str(extra.get("occurred_at") or ""), data


def _content_id(ticket: Ticket, action: str) -> str:
    text = f"{ticket.reference}|{action}|{ticket.status}|{ticket.body}"
    return "msg_" + hashlib.sha256(text.encode()).hexdigest()[:32]
