"""Jira Cloud and Data Center webhooks: verification and parsing.

Admin webhooks registered with a secret (Cloud: System > WebHooks or
`POST /rest/webhooks/1.0/webhook`; Data Center 10+: the same screen) sign the raw body:
`X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>` (WebSub `method=signature`),
https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks.
No timestamp is signed and Jira retries for up to ~30 minutes, so there is no time window: a
replay is caught by the delivery id, `X-Atlassian-Webhook-Identifier` (when a Data Center
release sends none, a digest of the signed body stands in).

Events read (https://developer.atlassian.com/cloud/jira/platform/webhooks/#example-callback-for-an-issue-related-event):
`jira:issue_updated` whose `changelog.items` change `status` or `resolution` → STATUS with the
status name, its category key (new / indeterminate / done) and the resolution name;
`comment_created` → COMMENT; `jira:issue_deleted` → DELETED. Anything else → [].
The actor is the Cloud `accountId`, or the Data Center user `name` (its e-mail as a fallback).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from apps.connectors.inbound.changes import ChangeKind, RemoteChange
from apps.connectors.inbound.signatures import (
    HookMalformed,
    Verified,
    body_digest,
    check_hmac,
    check_prefixed_hex,
    header,
    load_object,
    millis,
    obj,
    require_secret,
    text,
)

SIGNATURE = "X-Hub-Signature"
DELIVERY = "X-Atlassian-Webhook-Identifier"
# A status change carries both items when the transition screen sets the resolution.
_STATUS_FIELDS = frozenset(("status", "resolution"))


def verify(
    *, secret: str, headers: Mapping[str, str], body: bytes, now: datetime, settings: dict
) -> Verified:
    """401 unless X-Hub-Signature is the body's HMAC-SHA256 under the secret."""
    require_secret(secret)
    digest = check_prefixed_hex(header(headers, SIGNATURE), prefix="sha256=", name=SIGNATURE)
    check_hmac(given_hex=digest, secret=secret, message=body, name=SIGNATURE)
    delivery = header(headers, DELIVERY)[:200] or body_digest(body)
    return Verified(delivery_id=delivery, occurred_at=None)


def _actor(user: dict) -> str:
    return text(
        user.get("accountId") or user.get("name") or user.get("emailAddress"), "user.accountId"
    )


def _issue(data: dict) -> tuple[dict, str, str]:
    issue = obj(data.get("issue"), "issue")
    issue_id = text(issue.get("id"), "issue.id")
    if not issue_id:
        raise HookMalformed("issue.id is missing")
    return issue, issue_id, text(issue.get("key"), "issue.key")


def _status_change(data: dict) -> list[RemoteChange]:
    items = obj(data.get("changelog"), "changelog").get("items") or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise HookMalformed("changelog.items must be a list of objects")
    changed = [i for i in items if i.get("field") in _STATUS_FIELDS]
    if not changed:
        return []
    issue, issue_id, key = _issue(data)
    fields = obj(issue.get("fields"), "issue.fields")
    status = obj(fields.get("status"), "issue.fields.status")
    to_status = next((i for i in changed if i.get("field") == "status"), {})
    name = text(status.get("name") or to_status.get("toString"), "issue.fields.status.name")
    category = obj(status.get("statusCategory"), "issue.fields.status.statusCategory")
    resolution = obj(fields.get("resolution"), "issue.fields.resolution")
    return [
        RemoteChange(
            kind=ChangeKind.STATUS,
            remote_id=issue_id,
            remote_key=key,
            status=name,
            status_category=text(category.get("key"), "statusCategory.key"),
            resolution=text(resolution.get("name"), "resolution.name"),
            actor=_actor(obj(data.get("user"), "user")),
            occurred_at=millis(data.get("timestamp")),
        )
    ]


def _comment(data: dict) -> list[RemoteChange]:
    _, issue_id, key = _issue(data)
    comment = obj(data.get("comment"), "comment")
    comment_id = text(comment.get("id"), "comment.id")
    if not comment_id:
        raise HookMalformed("comment.id is missing")
    body = comment.get("body")
    # Webhooks render bodies as wiki text; a body in Atlassian Document Format is kept as JSON
    # text rather than guessed at.
    body_text = body if isinstance(body, str) else ("" if body is None else json.dumps(body))
    return [
        RemoteChange(
            kind=ChangeKind.COMMENT,
            remote_id=issue_id,
            remote_key=key,
            actor=_actor(obj(comment.get("author"), "comment.author")),
            comment_id=comment_id,
            comment_body=body_text,
            occurred_at=millis(data.get("timestamp")),
        )
    ]


def _deleted(data: dict) -> list[RemoteChange]:
    _, issue_id, key = _issue(data)
    return [
        RemoteChange(
            kind=ChangeKind.DELETED,
            remote_id=issue_id,
            remote_key=key,
            actor=_actor(obj(data.get("user"), "user")),
            occurred_at=millis(data.get("timestamp")),
        )
    ]


_EVENTS = {
    "jira:issue_updated": _status_change,
    "comment_created": _comment,
    "jira:issue_deleted": _deleted,
}


def parse(*, headers: Mapping[str, str], body: bytes) -> list[RemoteChange]:
    """The changes a verified Jira delivery reports ([] for events FixOps does not follow)."""
    data = load_object(body)
    event = text(data.get("webhookEvent"), "webhookEvent")
    handler = _EVENTS.get(event)
    return handler(data) if handler else []
