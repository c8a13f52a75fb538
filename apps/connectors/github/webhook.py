"""GitHub repository webhooks: verification and parsing.

GitHub signs the raw body with the webhook's secret: `X-Hub-Signature-256: sha256=<hex
HMAC-SHA256(secret, body)>` and names the delivery in `X-GitHub-Delivery` (a GUID, the same on
a redelivery), the event in `X-GitHub-Event`:
https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries and
https://docs.github.com/en/webhooks/webhook-events-and-payloads#delivery-headers.
No timestamp is signed and GitHub never redelivers by itself, so there is no time window; a
replay is caught by the delivery id. The legacy SHA-1 `X-Hub-Signature` is not accepted.

Events read (https://docs.github.com/en/webhooks/webhook-events-and-payloads#issues):
`issues` closed → STATUS "closed" with `state_reason` (completed / not_planned / duplicate) as
the resolution; reopened → STATUS "open"; deleted → DELETED; `issue_comment` created on an
issue (not a pull request) → COMMENT. `ping` and everything else → []. The remote id is the
issue number, as the connector stores it; the actor is `sender.login`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from apps.connectors.inbound.changes import ChangeKind, RemoteChange
from apps.connectors.inbound.signatures import (
    HookMalformed,
    HookRejected,
    Verified,
    check_hmac,
    check_prefixed_hex,
    header,
    iso,
    load_object,
    obj,
    require_secret,
    text,
)

SIGNATURE = "X-Hub-Signature-256"
DELIVERY = "X-GitHub-Delivery"
EVENT = "X-GitHub-Event"


def verify(
    *, secret: str, headers: Mapping[str, str], body: bytes, now: datetime, settings: dict
) -> Verified:
    """401 unless X-Hub-Signature-256 is the body's HMAC-SHA256; 400 without a delivery id."""
    require_secret(secret)
    digest = check_prefixed_hex(header(headers, SIGNATURE), prefix="sha256=", name=SIGNATURE)
    check_hmac(given_hex=digest, secret=secret, message=body, name=SIGNATURE)
    delivery = header(headers, DELIVERY)
    if not delivery or len(delivery) > 200:
        raise HookRejected(400, "missing_delivery_id", f"{DELIVERY} is missing")
    return Verified(delivery_id=delivery, occurred_at=None)


def _issue(data: dict) -> tuple[dict, str]:
    issue = obj(data.get("issue"), "issue")
    number = text(issue.get("number"), "issue.number")
    if not number:
        raise HookMalformed("issue.number is missing")
    return issue, number


def _actor(data: dict) -> str:
    return text(obj(data.get("sender"), "sender").get("login"), "sender.login")


def _issues(data: dict) -> list[RemoteChange]:
    action = text(data.get("action"), "action")
    if action not in ("closed", "reopened", "deleted"):
        return []
    issue, number = _issue(data)
    common = {
        "remote_id": number,
        "remote_key": f"#{number}",
        "actor": _actor(data),
        "occurred_at": iso(issue.get("closed_at") if action == "closed" else None, "closed_at")
        or iso(issue.get("updated_at"), "issue.updated_at"),
    }
    if action == "deleted":
        return [RemoteChange(kind=ChangeKind.DELETED, **common)]
    closed = action == "closed"
    return [
        RemoteChange(
            kind=ChangeKind.STATUS,
            status="closed" if closed else "open",
            resolution=text(issue.get("state_reason"), "issue.state_reason") if closed else "",
            **common,
        )
    ]


def _issue_comment(data: dict) -> list[RemoteChange]:
    if text(data.get("action"), "action") != "created":
        return []
    issue, number = _issue(data)
    if issue.get("pull_request"):
        return []
    comment = obj(data.get("comment"), "comment")
    comment_id = text(comment.get("id"), "comment.id")
    if not comment_id:
        raise HookMalformed("comment.id is missing")
    return [
        RemoteChange(
            kind=ChangeKind.COMMENT,
            remote_id=number,
            remote_key=f"#{number}",
            actor=text(obj(comment.get("user"), "comment.user").get("login"), "user.login")
            or _actor(data),
            comment_id=comment_id,
            comment_body=text(comment.get("body"), "comment.body"),
            occurred_at=iso(comment.get("created_at"), "comment.created_at"),
        )
    ]


_EVENTS = {"issues": _issues, "issue_comment": _issue_comment}


def parse(*, headers: Mapping[str, str], body: bytes) -> list[RemoteChange]:
    """The changes a verified GitHub delivery reports ([] for events FixOps does not follow)."""
    data = load_object(body)
    handler = _EVENTS.get(header(headers, EVENT))
    return handler(data) if handler else []
