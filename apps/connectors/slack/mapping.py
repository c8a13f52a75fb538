"""Ticket <-> Slack Block Kit messages (with message metadata carrying our reference)."""

from __future__ import annotations

from apps.connectors.base import RemoteRef, Ticket
from apps.connectors.text import clip, slack_escape

EVENT_TYPE = "fixops_ticket"
STATUS_BLOCK = "fixops_status"
SEVERITY_EMOJI = {
    "critical": ":red_circle:",
    "high": ":large_orange_circle:",
    "medium": ":large_yellow_circle:",
    "low": ":large_blue_circle:",
    "info": ":white_circle:",
}


def status_block(severity: str, status: str) -> dict:
    emoji = SEVERITY_EMOJI.get(severity, ":white_circle:")
    mark = ":white_check_mark: closed" if status == "closed" else ":rotating_light: open"
    return {
        "type": "context",
        "block_id": STATUS_BLOCK,
        "elements": [{"type": "mrkdwn", "text": f"{emoji} *{severity}* · {mark}"}],
    }


def blocks(ticket: Ticket) -> list[dict]:
    out: list[dict] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": clip(ticket.title, 150) or "FixOps"},
        },
    ]
    if ticket.body.strip():
        out.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": clip(slack_escape(ticket.body), 3000)},
            }
        )
    out.append(status_block(ticket.severity, ticket.status))
    if ticket.url:
        out.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "View in FixOps"},
                        "url": ticket.url,
                    }
                ],
            }
        )
    return out


def metadata(ticket: Ticket) -> dict:
    return {
        "event_type": EVENT_TYPE,
        "event_payload": {
            "reference": ticket.reference,
            "status": ticket.status,
            "severity": ticket.severity,
        },
    }


def message(ticket: Ticket) -> dict:
    """text is the notification / accessibility fallback of the blocks."""
    return {
        "text": clip(f"[{ticket.severity}] {ticket.title}", 3000),
        "blocks": blocks(ticket),
        "metadata": metadata(ticket),
        "unfurl_links": False,
    }


def reference_of(msg: dict) -> str | None:
    meta = msg.get("metadata") or {}
    if meta.get("event_type") != EVENT_TYPE:
        return None
    return (meta.get("event_payload") or {}).get("reference")


def with_status(msg: dict, status: str) -> dict:
    """The message's blocks/metadata with the status replaced (for chat.update)."""
    meta = msg.get("metadata") or {}
    payload = dict(meta.get("event_payload") or {})
    payload["status"] = status
    severity = payload.get("severity", "medium")
    new_blocks = [
        status_block(severity, status) if b.get("block_id") == STATUS_BLOCK else b
        for b in msg.get("blocks") or []
    ]
    return {
        "text": msg.get("text", ""),
        "blocks": new_blocks,
        "metadata": {"event_type": EVENT_TYPE, "event_payload": payload},
    }


def remote_ref(channel: str, msg: dict, *, ts: str | None = None, status: str = "") -> RemoteRef:
    """Slack does not echo metadata in chat.* answers: callers pass the status they wrote."""
    payload = (msg.get("metadata") or {}).get("event_payload") or {}
    ts = ts or msg.get("ts", "")
    return RemoteRef(
        id=ts, key=ts, status=status or payload.get("status", ""), extra={"channel": channel}
    )
