"""Microsoft Teams: an Adaptive Card POSTed to a Workflows webhook ("Post to a channel when a
webhook request is received", Power Automate).

Credentials {"webhook_url"}: the workflow's URL, which carries its own bearer secret (`sig=`),
so it is stored encrypted and never shown. The retired Office 365 connector URLs
(*.webhook.office.com, outlook.office.com/webhook) are refused. Body: {"type": "message",
"attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null,
"content": <AdaptiveCard 1.2>}]} — the template's "for each" needs the attachments array.
Messages are limited to 28 KB (measured on the UTF-16 encoding), so the body is clipped to fit;
more than 4 requests/s are throttled (429, retried with Retry-After). Workflows can only post:
no edits, no threads (channels.py). Sources: Microsoft Learn "Create incoming webhooks with
Workflows for Microsoft Teams" and "Format cards in Teams" (the shared reference digest,
llm-and-channels.md §6).
"""

from __future__ import annotations

import json
from typing import ClassVar
from urllib.parse import urlsplit

from apps.connectors.base import Ticket
from apps.connectors.channels import PostOnlyConnector
from apps.connectors.schema import secret
from fixops.platform.http.session import build_session

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
MAX_MESSAGE_BYTES = 28 * 1024  # Teams' limit, on the UTF-16 encoding
RETIRED_HOSTS = ("webhook.office.com", "outlook.office.com", "outlook.office365.com")
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


class TeamsConnector(PostOnlyConnector):
    kind: ClassVar[str] = "teams"
    credential_sets = (("webhook_url",),)
    base_url_help = (
        "The workflow's host, e.g. https://prod-12.westeurope.logic.azure.com (the full URL, "
        "with its sig= secret, goes in the webhook URL)."
    )
    fields = (
        secret(
            "webhook_url",
            "Workflow webhook URL",
            "From Teams Workflows: 'Post to a channel when a webhook request is received'. "
            "It carries its own secret (sig=).",
        ),
    )

    @classmethod
    def validate(cls, credentials: dict, settings: dict) -> dict[str, str]:
        errors = super().validate(credentials, settings)
        if errors or not isinstance(credentials, dict):
            return errors
        parts = urlsplit(str(credentials.get("webhook_url")))
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            errors["credentials.webhook_url"] = "must be the workflow's https:// URL"
        elif any(host == h or host.endswith("." + h) for h in RETIRED_HOSTS):
            errors["credentials.webhook_url"] = (
                "Office 365 connector webhooks are retired; create a Teams Workflows webhook"
            )
        return errors

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.webhook_url = self.credentials["webhook_url"]
        self.session = build_session(label="teams", timeout=self.timeout)

    def test_connection(self) -> str:
        # Workflows offer no read-only call: the test posts a small card to the channel.
        test = Ticket(
            reference="fixops-test",
            title="FixOps connection test",
            body="This channel will receive FixOps notifications.",
            severity="info",
        )
        response = self.session.post(self.webhook_url, json=card(test))
        return f"workflow accepted a test card (HTTP {response.status_code})"

    def post(self, ticket: Ticket, *, action: str) -> None:
        self.session.post(self.webhook_url, json=fitted_card(ticket, action=action))
