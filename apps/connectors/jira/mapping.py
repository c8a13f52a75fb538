"""Ticket <-> Jira issue payloads (Cloud REST v3 with ADF, Data Center REST v2 with wiki text)."""

from __future__ import annotations

import re

from apps.connectors.base import RemoteRef, Ticket
from apps.connectors.text import clip, to_adf, to_jira_wiki

SUMMARY_MAX = 255
DEFAULT_TRANSITIONS = {"open": "Reopen", "closed": "Done"}
# statusCategory.key of Jira statuses that count as "closed" for FixOps.
CLOSED_CATEGORIES = ("done",)
_LABEL_UNSAFE = re.compile(r"\s+")


def label(value: str) -> str:
    """Jira labels cannot contain spaces."""
    return _LABEL_UNSAFE.sub("_", value.strip())


def labels_for(ticket: Ticket) -> list[str]:
    """Our reference first, then the ticket's labels (deduplicated)."""
    out: list[str] = []
    for raw in (ticket.reference, *ticket.labels):
        value = label(raw)
        if value and value not in out:
            out.append(value)
    return out


def description(ticket: Ticket, *, cloud: bool) -> dict | str:
    if cloud:
        return to_adf(ticket.body, url=ticket.url)
    return to_jira_wiki(ticket.body, url=ticket.url)


def comment_body(body: str, *, cloud: bool) -> dict | str:
    return to_adf(body) if cloud else to_jira_wiki(body)


def issue_fields(ticket: Ticket, settings: dict, *, cloud: bool, create: bool) -> dict:
    """The `fields` object of a create (POST issue) or an update (PUT issue/{key})."""
    fields: dict = {
        "summary": clip(ticket.title.replace("\n", " "), SUMMARY_MAX),
        "description": description(ticket, cloud=cloud),
        "labels": labels_for(ticket),
    }
    if create:
        fields["project"] = {"key": settings["project_key"]}
        fields["issuetype"] = {"name": settings.get("issue_type") or "Bug"}
    priority = (settings.get("priority_map") or {}).get(ticket.severity)
    if priority:
        fields["priority"] = {"name": priority}
    return fields


def jql_for(reference: str, project_key: str) -> str:
    """JQL finding the issue that carries our reference label."""
    ref = label(reference).replace("\\", "\\\\").replace('"', '\\"')
    project = project_key.replace("\\", "\\\\").replace('"', '\\"')
    return f'project = "{project}" AND labels = "{ref}" ORDER BY created ASC'


def fixops_status(issue: dict) -> str:
    category = (((issue.get("fields") or {}).get("status") or {}).get("statusCategory") or {}).get(
        "key", ""
    )
    return "closed" if category in CLOSED_CATEGORIES else "open"


def remote_ref(issue: dict, site: str) -> RemoteRef:
    status = ((issue.get("fields") or {}).get("status") or {}).get("name", "")
    key = issue.get("key", "")
    return RemoteRef(
        id=str(issue["id"]),
        key=key,
        url=f"{site}/browse/{key}" if key else "",
        status=status,
        extra={"fixops_status": fixops_status(issue)} if status else {},
    )
