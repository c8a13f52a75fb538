"""Slack: Block Kit messages through the Web API (bot token) or an incoming webhook.

Bot mode — credentials {"bot_token"}, settings {"channel"} (a channel id such as C0123; the
bot must be a member): create = chat.postMessage with message metadata carrying our reference,
update / transition = chat.update of the same message, comment = a threaded reply,
find_by_reference = conversations.history with include_all_metadata (the last
settings.history_pages pages of 200 messages, default 5).
Webhook mode — credentials {"webhook_url"}: an incoming webhook can only post, so create posts,
update / transition / comment post a follow-up message, and find_by_reference returns None
(a retried create after an unknown outcome may post twice).

The Web API answers HTTP 200 with {"ok": false, "error": "..."}: ratelimited and Slack-side
failures are transient, invalid_auth & co. are rejected credentials, the rest permanent.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

import requests

from apps.connectors.base import Connector, RemoteRef, Ticket, check_status
from apps.connectors.schema import ConfigField, secret
from apps.connectors.slack import mapping
from apps.connectors.text import clip, slack_escape
from fixops.platform import jsondepth
from fixops.platform.http.errors import PermanentError, TransientError
from fixops.platform.http.responses import json_body
from fixops.platform.http.retry import retry_after_from
from fixops.platform.http.session import build_session

AUTH_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "not_allowed_token_type",
        "ekm_access_denied",
    }
)
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def _check_ok(response: requests.Response) -> None:
    """Raise for a Web API answer {"ok": false} (Slack sends those with HTTP 200)."""
    if response.status_code != 200 or "json" not in response.headers.get("Content-Type", ""):
        return
    try:
        data = jsondepth.loads(response.content)
    except ValueError:
        return
    if not isinstance(data, dict) or data.get("ok", True):
        return
    error = str(data.get("error") or "unknown_error")
    method = urlsplit(response.url).path.rsplit("/", 1)[-1]
    detail = f"{error}" + (
        f" ({'; '.join(data['errors'])})" if isinstance(data.get("errors"), list) else ""
    )
    if error in TRANSIENT_ERRORS:
        raise TransientError(
            f"slack: {method} failed: {detail}", status=200, retry_after=retry_after_from(response)
        )
    if error in AUTH_ERRORS:
        raise PermanentError(f"slack: credentials rejected by {method}: {detail}", status=200)
    raise PermanentError(f"slack: {method} failed: {detail}", status=200)


class SlackConnector(Connector):
    kind: ClassVar[str] = "slack"
    credential_sets = (("bot_token",), ("webhook_url",))
    base_url_help = "https://slack.com (the Web API's root)."
    fields = (
        secret(
            "bot_token",
            "Bot token",
            "xoxb-…: posts, updates and threads messages (needs chat:write); or give a webhook.",
        ),
        secret(
            "webhook_url",
            "Incoming webhook URL",
            "https://hooks.slack.com/services/…: can only post (no updates, no threads).",
        ),
        ConfigField("channel", "Channel", help="With a bot token: the channel id, e.g. C0123ABC."),
        secret(
            "signing_secret",
            "Signing secret",
            "From the Slack app's Basic Information page: verifies button presses sent to "
            "this integration's webhook URL (the app's Interactivity Request URL).",
        ),
        ConfigField(
            "history_pages",
            "History pages",
            type="integer",
            minimum=1,
            maximum=50,
            default=5,
            help="Pages of 200 messages searched to find a message again.",
        ),
    )

    @classmethod
    def validate(cls, credentials: dict, settings: dict) -> dict[str, str]:
        errors = super().validate(credentials, settings)
        if errors.get("credentials") or not isinstance(settings, dict):
            return errors
        if credentials.get("bot_token"):
            if not str(settings.get("channel") or "").strip():
                errors["settings.channel"] = (
                    "required with a bot token (a channel id, e.g. C0123ABC)"
                )
        else:
            url = str(credentials.get("webhook_url"))
            if urlsplit(url).scheme not in ("http", "https"):
                errors["credentials.webhook_url"] = "must be an https:// incoming webhook URL"
        pages = settings.get("history_pages", 5)
        if not isinstance(pages, int) or not 1 <= pages <= 50:
            errors["settings.history_pages"] = "must be an integer from 1 to 50"
        return errors

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.webhook_url = (
            "" if self.credentials.get("bot_token") else self.credentials["webhook_url"]
        )
        self.api = f"{self.base_url or 'https://slack.com'}/api"
        self.channel = self.settings.get("channel", "")
        headers = {}
        if not self.webhook_url:
            headers["Authorization"] = f"Bearer {self.credentials['bot_token']}"
        self.session = build_session(
            label="slack", timeout=self.timeout, headers=headers, check_status=_check_ok
        )

    @property
    def webhook_mode(self) -> bool:
        return bool(self.webhook_url)

    def _call(self, method: str, payload: dict) -> dict:
        return json_body(self.session.post(f"{self.api}/{method}", json=payload), label="slack")

    def _webhook_post(self, payload: dict) -> None:
        body = {k: v for k, v in payload.items() if k in ("text", "blocks")}
        self.session.post(self.webhook_url, json=body)

    # -- the interface ------------------------------------------------------------------------

    def test_connection(self) -> str:
        if self.webhook_mode:
            # An empty payload is refused with 400 no_text by a live webhook (nothing is posted);
            # an unknown or revoked webhook answers 403/404 instead.
            try:
                self.session.post(self.webhook_url, json={})
            except PermanentError as exc:
                if exc.status == 400:
                    return "incoming webhook reachable"
                raise
            raise PermanentError(
                "slack: the webhook accepted an empty message; is it a Slack webhook?"
            )
        who = self._call("auth.test", {})
        self._call("conversations.info", {"channel": self.channel})
        return (
            f"authenticated as {who.get('user')} in {who.get('team')}; "
            f"channel {self.channel} reachable"
        )

    def create(self, ticket: Ticket) -> RemoteRef:
        message = mapping.message(ticket)
        if self.webhook_mode:
            self._webhook_post(message)
            return RemoteRef(id="", key="", status=ticket.status, extra={"webhook": True})
        data = self._call("chat.postMessage", {"channel": self.channel, **message})
        return mapping.remote_ref(
            data.get("channel", self.channel),
            data.get("message") or {},
            ts=data["ts"],
            status=ticket.status,
        )

    def update(self, ref: RemoteRef, ticket: Ticket) -> RemoteRef:
        check_status(ticket.status)
        message = mapping.message(ticket)
        if self.webhook_mode or not ref.id:
            self._webhook_or_refuse(message)
            return RemoteRef(id=ref.id, key=ref.key, status=ticket.status, extra=ref.extra)
        channel = ref.extra.get("channel") or self.channel
        message.pop("unfurl_links")
        data = self._call("chat.update", {"channel": channel, "ts": ref.id, **message})
        return mapping.remote_ref(
            data.get("channel", channel), data.get("message") or {}, ts=ref.id, status=ticket.status
        )

    def transition(self, ref: RemoteRef, status: str) -> RemoteRef:
        check_status(status)
        if self.webhook_mode or not ref.id:
            note = "closed" if status == "closed" else "reopened"
            self._webhook_or_refuse({"text": f"FixOps: {note}"})
            return RemoteRef(id=ref.id, key=ref.key, status=status, extra=ref.extra)
        channel = ref.extra.get("channel") or self.channel
        current = self._message(channel, ref.id)
        if current is None:
            raise PermanentError(f"slack: message {ref.id} not found in {channel}")
        if ((current.get("metadata") or {}).get("event_payload") or {}).get("status") == status:
            return mapping.remote_ref(channel, current)
        data = self._call(
            "chat.update",
            {"channel": channel, "ts": ref.id, **mapping.with_status(current, status)},
        )
        return mapping.remote_ref(channel, data.get("message") or {}, ts=ref.id, status=status)

    def comment(self, ref: RemoteRef, body: str) -> None:
        text = clip(slack_escape(body), 3000)
        if self.webhook_mode or not ref.id:
            self._webhook_or_refuse({"text": text})
            return
        channel = ref.extra.get("channel") or self.channel
        self._call("chat.postMessage", {"channel": channel, "thread_ts": ref.id, "text": text})

    def find_by_reference(self, reference: str) -> RemoteRef | None:
        """None in webhook mode: an incoming webhook cannot read the channel."""
        if self.webhook_mode:
            return None
        cursor = ""
        for _ in range(int(self.settings.get("history_pages", 5))):
            payload = {"channel": self.channel, "limit": 200, "include_all_metadata": True}
            if cursor:
                payload["cursor"] = cursor
            data = self._call("conversations.history", payload)
            for msg in data.get("messages", []):
                if mapping.reference_of(msg) == reference:
                    return mapping.remote_ref(self.channel, msg)
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                break
        return None

    # -- helpers --------------------------------------------------------------------------------

    def _webhook_or_refuse(self, payload: dict) -> None:
        if not self.webhook_mode:
            raise PermanentError(
                "slack: this message was posted without a ts; it cannot be updated"
            )
        self._webhook_post(payload)

    def _message(self, channel: str, ts: str) -> dict | None:
        data = self._call(
            "conversations.history",
            {
                "channel": channel,
                "latest": ts,
                "oldest": ts,
                "inclusive": True,
                "limit": 1,
                "include_all_metadata": True,
            },
        )
        messages = [m for m in data.get("messages", []) if m.get("ts") == ts]
        return messages[0] if messages else None
