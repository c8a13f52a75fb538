"""Ticket <-> ServiceNow incident (Table API) fields."""

from __future__ import annotations

from apps.connectors.base import RemoteRef, Ticket
from apps.connectors.text import clip

SHORT_DESCRIPTION_MAX = 160
# Helsinki+ incident states.
STATE_NAMES = {
    "1": "New",
    "2": "In Progress",
    "3": "On Hold",
    "6": "Resolved",
    "7": "Closed",
    "8": "Canceled",
}
CLOSED_STATES = ("6", "7", "8")
# severity -> (urgency, impact); 1 = high, 3 = low.
URGENCY_IMPACT = {
    "critical": ("1", "1"),
    "high": ("1", "2"),
    "medium": ("2", "2"),
    "low": ("3", "2"),
    "info": ("3", "3"),
}
FIELDS = "sys_id,number,state,correlation_id"


def incident_fields(ticket: Ticket, settings: dict, *, create: bool) -> dict:
    urgency, impact = URGENCY_IMPACT.get(ticket.severity, ("2", "2"))
    description = ticket.body.strip()
    if ticket.url:
        description = f"{description}\n\nFixOps: {ticket.url}" if description else ticket.url
    fields = {
        "short_description": clip(ticket.title.replace("\n", " "), SHORT_DESCRIPTION_MAX),
        "description": description,
        "urgency": urgency,
        "impact": impact,
    }
    if create:
        fields["correlation_id"] = ticket.reference
        fields["correlation_display"] = "FixOps"
        for name in ("assignment_group", "caller_id", "category"):
            if settings.get(name):
                fields[name] = settings[name]
    return fields


def state_fields(status: str, settings: dict) -> dict:
    if status == "closed":
        return {
            "state": str(settings.get("resolved_state") or "6"),
            "close_code": settings.get("close_code") or "Solution provided",
            "close_notes": settings.get("close_notes") or "Resolved in FixOps.",
        }
    return {"state": str(settings.get("reopen_state") or "2")}


def fixops_status(state: str) -> str:
    return "closed" if str(state) in CLOSED_STATES else "open"


def remote_ref(record: dict, base_url: str, table: str) -> RemoteRef:
    sys_id = record["sys_id"]
    state = str(record.get("state", ""))
    return RemoteRef(
        id=sys_id,
        key=record.get("number", ""),
        url=f"{base_url}/nav_to.do?uri={table}.do?sys_id={sys_id}",
        status=STATE_NAMES.get(state, state),
        extra={"state": state, "fixops_status": fixops_status(state)},
    )
