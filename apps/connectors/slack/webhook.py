"""Slack interactivity (message buttons): verification and parsing.

Slack signs every request with the app's signing secret: `X-Slack-Signature: v0=<hex
HMAC-SHA256(signing_secret, "v0:" + X-Slack-Request-Timestamp + ":" + raw body)>`, and a
request whose timestamp is more than 5 minutes from now is refused:
https://api.slack.com/authentication/verifying-requests-from-slack (what the official
`slack_sdk.signature.SignatureVerifier` does). The signing secret is issued by Slack, so it is
a write-only credential of the integration (`SECRET_CREDENTIAL`), not a secret FixOps makes.

Slack sends no delivery id with interactivity and does not retry it, so the delivery id is
derived: a digest of the signed timestamp and body (a replay of the same signed request has the
same one; a second press of a button has a new timestamp and `action_ts`).

Body: form-encoded `payload=<JSON>` (https://api.slack.com/reference/interaction-payloads/block-actions).
`block_actions` → one ACTION per action (action = `action_id`, value = `value`), the remote id
being the message's ts (`container.message_ts`), as the connector stores it, the actor the
Slack user id. Other interaction types → [].
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qs

from apps.connectors.inbound.changes import ChangeKind, RemoteChange
from apps.connectors.inbound.signatures import (
    HookMalformed,
    Verified,
    body_digest,
    check_hmac,
    check_prefixed_hex,
    check_window,
    header,
    load_object,
    obj,
    require_secret,
    text,
    unix_timestamp,
)

# The credential holding the Slack-issued signing secret (declared in SlackConnector.fields).
SECRET_CREDENTIAL = "signing_secret"  # noqa: S105 - a credential's name
SIGNATURE = "X-Slack-Signature"
TIMESTAMP = "X-Slack-Request-Timestamp"


def verify(
    *, secret: str, headers: Mapping[str, str], body: bytes, now: datetime, settings: dict
) -> Verified:
    """401 unless the v0 signature covers "v0:" + timestamp + ":" + body, within 5 minutes."""
    require_secret(secret)
    digest = check_prefixed_hex(header(headers, SIGNATURE), prefix="v0=", name=SIGNATURE)
    raw_ts = header(headers, TIMESTAMP)
    sent = unix_timestamp(raw_ts, name=TIMESTAMP)
    check_hmac(
        given_hex=digest,
        secret=secret,
        message=b"v0:" + raw_ts.encode() + b":" + body,
        name=SIGNATURE,
    )
    check_window(sent, now=now, name=TIMESTAMP)
    return Verified(delivery_id=body_digest(raw_ts.encode(), body), occurred_at=sent)


def _payload(body: bytes) -> dict:
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HookMalformed(f"body is not a form: {exc}") from exc
    values = form.get("payload")
    if not values or len(values) != 1:
        raise HookMalformed("body must carry one payload= field")
    return load_object(values[0].encode())


def _action_time(value: object) -> datetime | None:
    raw = text(value, "action_ts")
    if not raw:
        return None
    try:
        return datetime.fromtimestamp(float(raw), tz=UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise HookMalformed("action_ts is not a Slack timestamp") from exc


def parse(*, headers: Mapping[str, str], body: bytes) -> list[RemoteChange]:
    """One ACTION per button in a block_actions payload ([] for other interactions)."""
    data = _payload(body)
    if text(data.get("type"), "type") != "block_actions":
        return []
    container = obj(data.get("container"), "container")
    message = obj(data.get("message"), "message")
    ts = text(container.get("message_ts") or message.get("ts"), "container.message_ts")
    if not ts:
        raise HookMalformed("block_actions outside a message")
    actor = text(obj(data.get("user"), "user").get("id"), "user.id")
    actions = data.get("actions")
    if not isinstance(actions, list) or not actions:
        raise HookMalformed("actions must be a non-empty list")
    changes = []
    for item in actions:
        action = obj(item, "actions[]")
        action_id = text(action.get("action_id"), "action_id")
        if not action_id:
            raise HookMalformed("action_id is missing")
        changes.append(
            RemoteChange(
                kind=ChangeKind.ACTION,
                remote_id=ts,
                remote_key=ts,
                actor=actor,
                action=action_id,
                value=text(action.get("value"), "value"),
                occurred_at=_action_time(action.get("action_ts")),
            )
        )
    return changes
