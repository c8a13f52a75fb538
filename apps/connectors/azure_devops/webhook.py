"""Azure DevOps service hooks (Web Hooks consumer): verification and parsing.

Service hooks sign nothing; a subscription authenticates with basic auth
(`basicAuthUsername`/`basicAuthPassword`) or with extra HTTP headers (`httpHeaders`, one
`Key:value` per line):
https://learn.microsoft.com/en-us/azure/devops/service-hooks/services/webhooks and
https://learn.microsoft.com/en-us/azure/devops/service-hooks/consumers#web-hooks.
Setting `webhook_auth` picks which: "basic" (default; user `webhook_username`, default
"fixops", password = the webhook secret) or "header" (header `webhook_header`, default
`X-FixOps-Token`, value = the secret). Both compare in constant time. The body is not signed,
so HTTPS carries its integrity; no timestamp is signed, so there is no window, and the event's
`id` (the same on the service's retries) is the delivery id.

Events read (payload per the ASP.NET WebHooks TFS receiver fixture,
https://github.com/aspnet/WebHooks/blob/6930cc71681c55ccdcb5e4ea72ebf5be1601624e/test/Microsoft.AspNet.WebHooks.Receivers.TFS.Test/Messages/workitem.updated.json,
and https://learn.microsoft.com/en-us/azure/devops/service-hooks/events#work-item-updated):
`workitem.updated` changing `System.State` → STATUS with the new state and
`Microsoft.VSTS.Common.ResolvedReason` (e.g. "Won't Fix") as the resolution;
`workitem.commented` → COMMENT (`System.History`; the comment id is the revision);
`workitem.deleted` → DELETED. In `workitem.updated`, `resource.id` is the update's id: the
work item is `resource.workItemId`, else `resource.revision.id`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import datetime

from apps.connectors.inbound.changes import ChangeKind, RemoteChange
from apps.connectors.inbound.signatures import (
    HookMalformed,
    HookRejected,
    Verified,
    body_digest,
    header,
    iso,
    load_json,
    obj,
    require_secret,
    same,
    text,
)

DEFAULT_USERNAME = "fixops"
DEFAULT_HEADER = "X-FixOps-Token"
_EMAIL = re.compile(r"<([^<>\s]+@[^<>\s]+)>")


def _check_basic(*, secret: str, headers: Mapping[str, str], username: str) -> None:
    value = header(headers, "Authorization")
    if not value:
        raise HookRejected(401, "unsigned", "Authorization is missing")
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        raise HookRejected(400, "bad_authorization", "Authorization must be Basic")
    try:
        user, sep, password = (
            base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise HookRejected(400, "bad_authorization", "Authorization is not base64") from exc
    if not sep:
        raise HookRejected(400, "bad_authorization", "Authorization has no user:password")
    # Both compared, whatever the first says, so timing does not tell which one was wrong.
    user_ok = same(user, username)
    if not (same(password, secret) & user_ok):
        raise HookRejected(401, "bad_credentials", "basic auth does not match")


def _check_header(*, secret: str, headers: Mapping[str, str], name: str) -> None:
    value = header(headers, name)
    if not value:
        raise HookRejected(401, "unsigned", f"{name} is missing")
    if not same(value, secret):
        raise HookRejected(401, "bad_token", f"{name} does not match")


def verify(
    *, secret: str, headers: Mapping[str, str], body: bytes, now: datetime, settings: dict
) -> Verified:
    """Basic auth or the subscription's custom header, as `webhook_auth` says."""
    require_secret(secret)
    if settings.get("webhook_auth") == "header":
        name = str(settings.get("webhook_header") or DEFAULT_HEADER)
        _check_header(secret=secret, headers=headers, name=name)
    else:
        username = str(settings.get("webhook_username") or DEFAULT_USERNAME)
        _check_basic(secret=secret, headers=headers, username=username)
    # The delivery id is in the (authenticated) body; a body parse cannot read yields a digest
    # here and HookMalformed in `parse`.
    try:
        data = load_json(body)
    except HookMalformed:
        data = None
    event_id = data.get("id") if isinstance(data, dict) else None
    delivery = event_id if isinstance(event_id, str) and 0 < len(event_id) <= 200 else ""
    return Verified(delivery_id=delivery or body_digest(body), occurred_at=None)


def _when(value: object, name: str) -> datetime | None:
    parsed = iso(value, name)
    # 0001-01-01 means "not set", 9999-01-01 "the current revision": neither is a time.
    return None if parsed is None or parsed.year in (1, 9999) else parsed


def _identity(value: object) -> str:
    """An identity as the payload gives it: {uniqueName}, "Name <email>" or a display name."""
    if isinstance(value, dict):
        return text(value.get("uniqueName") or value.get("displayName"), "identity")
    name = text(value, "identity")
    match = _EMAIL.search(name)
    return match.group(1) if match else name


def _new(field: object) -> object:
    """A field's value: `{oldValue, newValue}` in an update, plain in a revision."""
    return field.get("newValue") if isinstance(field, dict) else field


def _updated(data: dict) -> list[RemoteChange]:
    resource = obj(data.get("resource"), "resource")
    changed = obj(resource.get("fields"), "resource.fields")
    if "System.State" not in changed:
        return []
    revision = obj(resource.get("revision"), "resource.revision")
    snapshot = obj(revision.get("fields"), "resource.revision.fields")
    item_id = text(resource.get("workItemId") or revision.get("id"), "resource.workItemId")
    state = text(_new(changed["System.State"]), "System.State")
    if not item_id or item_id == "0" or not state:
        raise HookMalformed("workitem.updated needs the work item id and its new state")
    reason = changed.get("Microsoft.VSTS.Common.ResolvedReason")
    reason = (
        _new(reason) if reason is not None else snapshot.get("Microsoft.VSTS.Common.ResolvedReason")
    )
    changed_by = _new(changed.get("System.ChangedBy")) or snapshot.get("System.ChangedBy")
    return [
        RemoteChange(
            kind=ChangeKind.STATUS,
            remote_id=item_id,
            remote_key=item_id,
            status=state,
            resolution=text(reason, "ResolvedReason"),
            actor=_identity(resource.get("revisedBy")) or _identity(changed_by),
            occurred_at=_when(resource.get("revisedDate"), "resource.revisedDate")
            or _when(_new(changed.get("System.ChangedDate")), "System.ChangedDate")
            or _when(data.get("createdDate"), "createdDate"),
        )
    ]


def _item(data: dict) -> tuple[dict, dict, str]:
    resource = obj(data.get("resource"), "resource")
    fields = obj(resource.get("fields"), "resource.fields")
    item_id = text(resource.get("id"), "resource.id")
    if not item_id:
        raise HookMalformed("resource.id is missing")
    return resource, fields, item_id


def _commented(data: dict) -> list[RemoteChange]:
    resource, fields, item_id = _item(data)
    return [
        RemoteChange(
            kind=ChangeKind.COMMENT,
            remote_id=item_id,
            remote_key=item_id,
            actor=_identity(fields.get("System.ChangedBy")),
            comment_id=f"{item_id}/rev/{text(resource.get('rev'), 'resource.rev')}",
            comment_body=text(fields.get("System.History"), "System.History"),
            occurred_at=_when(fields.get("System.ChangedDate"), "System.ChangedDate")
            or _when(data.get("createdDate"), "createdDate"),
        )
    ]


def _deleted(data: dict) -> list[RemoteChange]:
    _, fields, item_id = _item(data)
    return [
        RemoteChange(
            kind=ChangeKind.DELETED,
            remote_id=item_id,
            remote_key=item_id,
            actor=_identity(fields.get("System.ChangedBy")),
            occurred_at=_when(data.get("createdDate"), "createdDate"),
        )
    ]


_EVENTS = {
    "workitem.updated": _updated,
    "workitem.commented": _commented,
    "workitem.deleted": _deleted,
}


def parse(*, headers: Mapping[str, str], body: bytes) -> list[RemoteChange]:
    """The changes a verified service-hook delivery reports ([] for other events)."""
    data = load_json(body)
    if not isinstance(data, dict):
        raise HookMalformed("body must be a JSON object")
    handler = _EVENTS.get(text(data.get("eventType"), "eventType"))
    return handler(data) if handler else []
