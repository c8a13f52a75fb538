"""Ticket <-> GitLab issue payloads."""

from __future__ import annotations

from apps.connectors.base import RemoteRef, Ticket
from apps.connectors.text import clip, to_markdown

TITLE_MAX = 255


def label(value: str) -> str:
    """GitLab labels are comma-separated on the wire; "::" would make a scoped label."""
    return value.replace(",", " ").replace("::", ":").strip()


def labels_for(ticket: Ticket, settings: dict) -> list[str]:
    out: list[str] = []
    for raw in (ticket.reference, *settings.get("labels", ()), *ticket.labels):
        value = label(raw)
        if value and value not in out:
            out.append(value)
    return out


def issue_payload(ticket: Ticket, settings: dict) -> dict:
    return {
        "title": clip(ticket.title.replace("\n", " "), TITLE_MAX),
        "description": to_markdown(ticket.body, url=ticket.url),
        "labels": ",".join(labels_for(ticket, settings)),
    }


def state_event(status: str) -> str:
    return "close" if status == "closed" else "reopen"


def fixops_status(issue: dict) -> str:
    return "closed" if issue.get("state") == "closed" else "open"


def remote_ref(issue: dict) -> RemoteRef:
    return RemoteRef(
        id=str(issue["iid"]),
        key=f"#{issue['iid']}",
        url=issue.get("web_url", ""),
        status=issue.get("state", ""),
        extra={"global_id": issue.get("id"), "fixops_status": fixops_status(issue)},
    )
