"""GitLab project webhooks: verification and parsing.

Every GitLab sends the webhook's secret token as is in `X-Gitlab-Token` (compared here in
constant time): https://docs.gitlab.com/user/project/integrations/webhooks/#validate-payloads-by-using-a-secret-token.
Where the version offers it (behind the `webhook_signing_token` feature flag), a webhook with
a signing token also signs per the Standard Webhooks spec: `webhook-id` (= Idempotency-Key),
`webhook-timestamp` (unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256(key,
"{id}.{timestamp}.{body}")>`, the token being `whsec_<base64 of a 32-byte key>`
(https://gitlab.com/gitlab-org/gitlab/-/merge_requests/230944,
https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md).
Signed deliveries are held to a 5-minute window. FixOps' GitLab secret is itself in `whsec_`
form (`new_secret()`), so the same value serves as secret token and signing token; setting
`webhook_signing: required` refuses deliveries that carry the token only.

The delivery id is `Idempotency-Key` (17.4+, the same on retries), else `webhook-id`, else
`X-Gitlab-Event-UUID` (older versions; a retry gets a new one), else a digest of the body.

Events read (https://docs.gitlab.com/user/project/integrations/webhook_events/): `Issue Hook`
(`object_kind` issue, or work_item for issues sent as work items) whose state changed → STATUS
with `object_attributes.state` (opened / closed) — one close can arrive as both an `update` and
a `close`, so the state is read, not the action; `Note Hook` on an issue → COMMENT. GitLab
sends no event for a deleted issue (reconciliation finds those). The remote id is the issue
iid, as the connector stores it; the actor is `user.username`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime

from apps.connectors.inbound.changes import ChangeKind, RemoteChange
from apps.connectors.inbound.signatures import (
    HookMalformed,
    HookRejected,
    Verified,
    body_digest,
    check_window,
    header,
    iso,
    load_object,
    obj,
    require_secret,
    same,
    text,
    unix_timestamp,
)

TOKEN = "X-Gitlab-Token"  # noqa: S105 - a header name
SIGNATURE = "webhook-signature"
_SIGNING_PREFIX = "whsec_"
_ISSUE_KINDS = frozenset(("issue", "work_item"))


def new_secret() -> str:
    """A secret GitLab takes both as secret token and as signing token (`whsec_` + 32 bytes)."""
    return _SIGNING_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signing_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret (the raw bytes of any other secret)."""
    if secret.startswith(_SIGNING_PREFIX):
        try:
            return base64.b64decode(secret[len(_SIGNING_PREFIX) :], validate=True)
        except binascii.Error:
            pass
    return secret.encode()


def _check_signature(
    *, secret: str, headers: Mapping[str, str], body: bytes, now: datetime
) -> tuple[str, datetime]:
    webhook_id = header(headers, "webhook-id")
    if not webhook_id or len(webhook_id) > 200:
        raise HookRejected(400, "missing_delivery_id", "webhook-id is missing")
    raw_ts = header(headers, "webhook-timestamp")
    sent = unix_timestamp(raw_ts, name="webhook-timestamp")
    # The signed content is the headers' text as sent: "{id}.{timestamp}.{body}".
    expected = base64.b64encode(
        _hmac(signing_key(secret), f"{webhook_id}.{raw_ts}.".encode() + body)
    ).decode()
    given = [
        sig.split(",", 1)[1] for sig in header(headers, SIGNATURE).split() if sig.startswith("v1,")
    ]
    if not given:
        raise HookRejected(400, "bad_signature_header", f"{SIGNATURE} has no v1 signature")
    # Check every candidate so the time taken does not say which one matched.
    if not [g for g in given if same(g, expected)]:
        raise HookRejected(401, "bad_signature", f"{SIGNATURE} does not match the body")
    check_window(sent, now=now, name="webhook-timestamp")
    return webhook_id, sent


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def verify(
    *, secret: str, headers: Mapping[str, str], body: bytes, now: datetime, settings: dict
) -> Verified:
    """The signing token's signature when present (5-minute window), and the secret token."""
    require_secret(secret)
    token = header(headers, TOKEN)
    occurred_at = None
    signed_id = ""
    if header(headers, SIGNATURE):
        signed_id, occurred_at = _check_signature(
            secret=secret, headers=headers, body=body, now=now
        )
    elif settings.get("webhook_signing") == "required":
        raise HookRejected(401, "unsigned", f"{SIGNATURE} is missing (signing is required)")
    elif not token:
        raise HookRejected(401, "unsigned", f"{TOKEN} is missing")
    if token and not same(token, secret):
        raise HookRejected(401, "bad_token", f"{TOKEN} is not this webhook's secret token")
    delivery = (
        header(headers, "Idempotency-Key") or signed_id or header(headers, "X-Gitlab-Event-UUID")
    )[:200] or body_digest(body)
    return Verified(delivery_id=delivery, occurred_at=occurred_at)


def _time(value: object, name: str) -> datetime | None:
    """GitLab's times: ISO-8601 on current versions, "2013-12-03 17:15:43 UTC" on older."""
    raw = text(value, name)
    if raw.endswith(" UTC"):
        try:
            return datetime.strptime(raw, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
        except ValueError as exc:
            raise HookMalformed(f"{name} is not a time") from exc
    return iso(raw, name)


def _issue_hook(data: dict) -> list[RemoteChange]:
    attrs = obj(data.get("object_attributes"), "object_attributes")
    action = text(attrs.get("action"), "object_attributes.action")
    changes = obj(data.get("changes"), "changes")
    if action not in ("close", "reopen") and not ({"state_id", "closed_at"} & changes.keys()):
        return []
    iid = text(attrs.get("iid"), "object_attributes.iid")
    state = text(attrs.get("state"), "object_attributes.state")
    if not iid or not state:
        raise HookMalformed("object_attributes.iid and .state are required")
    return [
        RemoteChange(
            kind=ChangeKind.STATUS,
            remote_id=iid,
            remote_key=f"#{iid}",
            status=state,
            actor=text(obj(data.get("user"), "user").get("username"), "user.username"),
            occurred_at=_time(attrs.get("updated_at"), "object_attributes.updated_at"),
        )
    ]


def _note_hook(data: dict) -> list[RemoteChange]:
    attrs = obj(data.get("object_attributes"), "object_attributes")
    if text(attrs.get("noteable_type"), "noteable_type") != "Issue":
        return []
    iid = text(obj(data.get("issue"), "issue").get("iid"), "issue.iid")
    note_id = text(attrs.get("id"), "object_attributes.id")
    if not iid or not note_id:
        raise HookMalformed("issue.iid and object_attributes.id are required")
    return [
        RemoteChange(
            kind=ChangeKind.COMMENT,
            remote_id=iid,
            remote_key=f"#{iid}",
            actor=text(obj(data.get("user"), "user").get("username"), "user.username"),
            comment_id=note_id,
            comment_body=text(attrs.get("note"), "object_attributes.note"),
            occurred_at=_time(attrs.get("created_at"), "object_attributes.created_at"),
        )
    ]


def parse(*, headers: Mapping[str, str], body: bytes) -> list[RemoteChange]:
    """The changes a verified GitLab delivery reports ([] for events FixOps does not follow)."""
    data = load_object(body)
    kind = text(data.get("object_kind"), "object_kind")
    if kind in _ISSUE_KINDS:
        return _issue_hook(data)
    if kind == "note":
        return _note_hook(data)
    return []
