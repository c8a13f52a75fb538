"""Teams: a ticket as the Workflows webhook message carrying one Adaptive Card (version 1.2:
TextBlock title coloured by severity, FactSet, TextBlock body, Action.OpenUrl back to FixOps),
clipped to Teams' 28 KB limit as measured on the wire (escaped JSON in UTF-16)."""

from __future__ import annotations

import json

from apps.connectors.base import Ticket

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
MAX_MESSAGE_BYTES = 28 * 1024  # Teams' limit, on the UTF-16 encoding
# Adaptive Card TextBlock colours per severity.
COLOURS = {"critical": "attention", "high": "attention", "medium": "warning"}


def card(ticket: Ticket, *, action: str = "created") -> dict:
    """The Teams message for `ticket`: one Adaptive Card."""
    event = str((ticket.extra or {}).get("event") or "")
    facts = [{"title": "Severity", "value": ticket.severity}]
    if event:
        facts.append({"title": "Event", "value": event})
    facts.append({"title": "Reference", "value": ticket.reference})
    if action not in ("created",):
        facts.append({"title": "Update", "value": action})
    content = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.2",
        "body": [
            {
                "type": "TextBlock",
                "text": ticket.title,
                "weight": "bolder",
                "size": "medium",
                "wrap": True,
                "color": COLOURS.get(ticket.severity, "default"),
            },
            {"type": "FactSet", "facts": facts},
            {"type": "TextBlock", "text": ticket.body, "wrap": True},
        ],
    }
    if ticket.url:
        content["actions"] = [
            {"type": "Action.OpenUrl", "title": "View in FixOps", "url": ticket.url}
        ]
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": content}],
    }


def fitted_card(ticket: Ticket, *, action: str = "created") -> dict:
    """`card`, with the body clipped until the message fits Teams' size limit (measured as
    sent: JSON with non-ASCII escaped, then UTF-16)."""
    body = ticket.body
    while True:
        message = card(_replace_body(ticket, body), action=action)
        size = len(json.dumps(message).encode("utf-16-le"))
        if size <= MAX_MESSAGE_BYTES or not body:
            return message
        keep = int(len(body) * MAX_MESSAGE_BYTES / size) - 64
        body = body[:keep].rstrip() + " …" if keep > 0 else ""


def _replace_body(ticket: Ticket, body: str) -> Ticket:
    return Ticket(
        reference=ticket.reference,
        title=ticket.title,
        body=body,
        severity=ticket.severity,
        labels=ticket.labels,
        status=ticket.status,
        url=ticket.url,
        extra=ticket.extra,
    )
