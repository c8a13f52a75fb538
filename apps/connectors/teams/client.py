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

from typing import ClassVar
from urllib.parse import urlsplit

from apps.connectors.base import Ticket
from apps.connectors.channels import PostOnlyConnector
from apps.connectors.schema import secret
from apps.connectors.teams.mapping import card, fitted_card
from fixops.platform.http.session import build_session

RETIRED_HOSTS = ("webhook.office.com", "outlook.office.com", "outlook.office365.com")


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
