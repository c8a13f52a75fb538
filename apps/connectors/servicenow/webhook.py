"""ServiceNow → FixOps: the FixOps webhook contract (ServiceNow has no webhook product to
switch on; a business rule sends it — the sample script is in docs/connectors.md).

Contract, version 1. A POST of a JSON body with three headers:
- `X-FixOps-Timestamp`: unix seconds when the rule ran; more than 5 minutes from our clock → 401;
- `X-FixOps-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>`;
- `X-FixOps-Delivery`: a GUID per delivery (`gs.generateGUID()`), the replay key.
Body: `event` (incident.updated / incident.commented / incident.deleted), `table`, `sys_id`,
`number`, `state` (the state number), `state_label`, `close_code`, `correlation_id` (our
reference), `sys_updated_on` ("yyyy-MM-dd HH:mm:ss", UTC), `sys_updated_by`, `sys_mod_count`
and, for comments, `comment: {sys_id, value}`.

Changes: incident.updated → STATUS (status = the state's label, status_category = the state
number, resolution = close_code); incident.commented → COMMENT; incident.deleted → DELETED.
The remote id is the record's sys_id, as the connector stores it; the actor `sys_updated_by`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from apps.connectors.inbound.changes import ChangeKind, RemoteChange
from apps.connectors.inbound.signatures import (
    HookMalformed,
    HookRejected,
    Verified,
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
from apps.connectors.servicenow.mapping import STATE_NAMES

SIGNATURE = "X-FixOps-Signature"
TIMESTAMP = "X-FixOps-Timestamp"
DELIVERY = "X-FixOps-Delivery"


def verify(
    *, secret: str, headers: Mapping[str, str], body: bytes, now: datetime, settings: dict
) -> Verified:
    """401 unless the signature covers timestamp + "." + body and the timestamp is recent."""
    require_secret(secret)
    digest = check_prefixed_hex(header(headers, SIGNATURE), prefix="sha256=", name=SIGNATURE)
    raw_ts = header(headers, TIMESTAMP)
    sent = unix_timestamp(raw_ts, name=TIMESTAMP)
    check_hmac(
        given_hex=digest, secret=secret, message=raw_ts.encode() + b"." + body, name=SIGNATURE
    )
    check_window(sent, now=now, name=TIMESTAMP)
    delivery = header(headers, DELIVERY)
    if not delivery or len(delivery) > 200:
        raise HookRejected(400, "missing_delivery_id", f"{DELIVERY} is missing")
    return Verified(delivery_id=delivery, occurred_at=sent)


def _glide_time(value: object) -> datetime | None:
    raw = text(value, "sys_updated_on")
    if not raw:
        return None
    try:
        return datetime.strptime(raw, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise HookMalformed("sys_updated_on must be yyyy-MM-dd HH:mm:ss") from exc


def parse(*, headers: Mapping[str, str], body: bytes) -> list[RemoteChange]:
    """The change a verified ServiceNow delivery reports ([] for other events)."""
    data = load_object(body)
    event = text(data.get("event"), "event")
    if event not in ("incident.updated", "incident.commented", "incident.deleted"):
        return []
    sys_id = text(data.get("sys_id"), "sys_id")
    if not sys_id:
        raise HookMalformed("sys_id is missing")
    common = {
        "remote_id": sys_id,
        "remote_key": text(data.get("number"), "number"),
        "actor": text(data.get("sys_updated_by"), "sys_updated_by"),
        "occurred_at": _glide_time(data.get("sys_updated_on")),
    }
    if event == "incident.deleted":
        return [RemoteChange(kind=ChangeKind.DELETED, **common)]
    if event == "incident.commented":
        comment = obj(data.get("comment"), "comment")
        comment_id = text(comment.get("sys_id"), "comment.sys_id")
        if not comment_id:
            raise HookMalformed("comment.sys_id is missing")
        return [
            RemoteChange(
                kind=ChangeKind.COMMENT,
                comment_id=comment_id,
                comment_body=text(comment.get("value"), "comment.value"),
                **common,
            )
        ]
    state = text(data.get("state"), "state")
    if not state:
        raise HookMalformed("state is missing")
    return [
        RemoteChange(
            kind=ChangeKind.STATUS,
            status=text(data.get("state_label"), "state_label") or STATE_NAMES.get(state, state),
            status_category=state,
            resolution=text(data.get("close_code"), "close_code"),
            **common,
        )
    ]
