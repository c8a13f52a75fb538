"""Ticket <-> Confluence page (REST v1 content, storage-format XHTML)."""

from __future__ import annotations

from apps.connectors.base import RemoteRef, Ticket
from apps.connectors.text import clip, to_html

TITLE_MAX = 255
CLOSED_LABEL = "fixops-closed"


def title(ticket: Ticket) -> str:
    """Titles are unique per space: the reference keeps ours distinct and findable."""
    suffix = f" [{ticket.reference}]"
    return clip(ticket.title.replace("\n", " "), TITLE_MAX - len(suffix)) + suffix


def storage_body(ticket: Ticket) -> dict:
    return {"storage": {"value": to_html(ticket.body, url=ticket.url), "representation": "storage"}}


def labels(ticket: Ticket) -> list[dict]:
    names: list[str] = []
    for raw in (ticket.reference, *ticket.labels):
        value = raw.strip().lower().replace(" ", "-")
        if value and value not in names:
            names.append(value)
    if ticket.status == "closed":
        names.append(CLOSED_LABEL)
    return [{"prefix": "global", "name": n} for n in names]


def page_payload(ticket: Ticket, settings: dict) -> dict:
    payload = {
        "type": "page",
        "title": title(ticket),
        "space": {"key": settings["space_key"]},
        "body": storage_body(ticket),
        "metadata": {"labels": labels(ticket)},
    }
    if settings.get("parent_id"):
        payload["ancestors"] = [{"id": str(settings["parent_id"])}]
    return payload


def label_names(page: dict) -> list[str]:
    results = (((page.get("metadata") or {}).get("labels")) or {}).get("results") or []
    return [r.get("name", "") for r in results]


def remote_ref(page: dict, base_url: str) -> RemoteRef:
    links = page.get("_links") or {}
    webui = links.get("webui", "")
    status = "closed" if CLOSED_LABEL in label_names(page) else "open"
    return RemoteRef(
        id=str(page["id"]),
        key=page.get("title", ""),
        url=f"{links.get('base') or base_url}{webui}" if webui else "",
        status=status,
        version=(page.get("version") or {}).get("number"),
        extra={"fixops_status": status},
    )
