"""Ticket <-> Azure DevOps work item JSON Patch documents."""

from __future__ import annotations

from apps.connectors.base import RemoteRef, Ticket
from apps.connectors.text import clip, to_html

TITLE_MAX = 255
DEFAULT_STATES = {"open": "Active", "closed": "Closed"}
# States that count as closed in the Agile, Scrum, Basic and CMMI processes.
CLOSED_STATES = ("closed", "done", "resolved", "removed")


def tag(value: str) -> str:
    return value.replace(";", ",").strip()


def tags_for(ticket: Ticket, settings: dict) -> str:
    out: list[str] = []
    for raw in (ticket.reference, *settings.get("tags", ()), *ticket.labels):
        value = tag(raw)
        if value and value not in out:
            out.append(value)
    return "; ".join(out)


def field_ops(ticket: Ticket, settings: dict) -> list[dict]:
    ops = [
        {
            "op": "add",
            "path": "/fields/System.Title",
            "value": clip(ticket.title.replace("\n", " "), TITLE_MAX),
        },
        {
            "op": "add",
            "path": "/fields/System.Description",
            "value": to_html(ticket.body, url=ticket.url),
        },
        {"op": "add", "path": "/fields/System.Tags", "value": tags_for(ticket, settings)},
    ]
    priority = (settings.get("priority_map") or {}).get(ticket.severity)
    if priority:
        ops.append(
            {"op": "add", "path": "/fields/Microsoft.VSTS.Common.Priority", "value": int(priority)}
        )
    for name in ("area_path", "iteration_path"):
        if settings.get(name):
            field = "System.AreaPath" if name == "area_path" else "System.IterationPath"
            ops.append({"op": "add", "path": f"/fields/{field}", "value": settings[name]})
    return ops


def state_op(state: str) -> dict:
    return {"op": "add", "path": "/fields/System.State", "value": state}


def fixops_status(state: str) -> str:
    return "closed" if state.casefold() in CLOSED_STATES else "open"


def has_tag(item: dict, reference: str) -> bool:
    tags = (item.get("fields") or {}).get("System.Tags") or ""
    return tag(reference).casefold() in [t.strip().casefold() for t in tags.split(";")]


def remote_ref(item: dict) -> RemoteRef:
    state = (item.get("fields") or {}).get("System.State", "")
    return RemoteRef(
        id=str(item["id"]),
        key=str(item["id"]),
        url=((item.get("_links") or {}).get("html") or {}).get("href", ""),
        status=state,
        version=item.get("rev"),
        extra={"fixops_status": fixops_status(state)},
    )
