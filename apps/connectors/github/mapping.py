"""Ticket <-> GitHub issue and check run payloads."""

from __future__ import annotations

from apps.connectors.base import RemoteRef, Ticket
from apps.connectors.text import clip, to_markdown

TITLE_MAX = 256
ANNOTATIONS_PER_REQUEST = 50  # the Checks API limit; further annotations go in updates
CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "timed_out",
)
LEVELS = ("notice", "warning", "failure")
SUMMARY_MAX = 65535


def labels_for(ticket: Ticket, settings: dict) -> list[str]:
    out: list[str] = []
    for raw in (ticket.reference, *settings.get("labels", ()), *ticket.labels):
        value = raw.strip()
        if value and value not in out:
            out.append(value)
    return out


def issue_payload(ticket: Ticket, settings: dict) -> dict:
    return {
        "title": clip(ticket.title.replace("\n", " "), TITLE_MAX),
        "body": to_markdown(ticket.body, url=ticket.url),
        "labels": labels_for(ticket, settings),
    }


def state_payload(status: str) -> dict:
    if status == "closed":
        return {"state": "closed", "state_reason": "completed"}
    return {"state": "open", "state_reason": "reopened"}


def issue_ref(issue: dict) -> RemoteRef:
    return RemoteRef(
        id=str(issue["number"]),
        key=f"#{issue['number']}",
        url=issue.get("html_url", ""),
        status=issue.get("state", ""),
        extra={"node_id": issue.get("node_id", ""), "fixops_status": issue.get("state", "")},
    )


def is_check_run(ticket: Ticket) -> bool:
    return bool(ticket.extra.get("head_sha"))


def annotations(ticket: Ticket) -> list[dict]:
    """Ticket.extra["annotations"] normalised to the Checks API shape (invalid ones refused by
    the caller through ValueError)."""
    out = []
    for item in ticket.extra.get("annotations") or []:
        level = item.get("annotation_level", "warning")
        if level not in LEVELS:
            raise ValueError(f"annotation_level {level!r} is not one of {', '.join(LEVELS)}")
        start = int(item.get("start_line") or 1)
        annotation = {
            "path": str(item["path"]),
            "start_line": start,
            "end_line": int(item.get("end_line") or start),
            "annotation_level": level,
            "message": clip(str(item.get("message") or ""), 64 * 1024) or "(no message)",
        }
        if item.get("title"):
            annotation["title"] = clip(str(item["title"]), 255)
        out.append(annotation)
    return out


def batches(items: list[dict], size: int = ANNOTATIONS_PER_REQUEST) -> list[list[dict]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def check_output(ticket: Ticket, chunk: list[dict]) -> dict:
    output = {
        "title": clip(ticket.title.replace("\n", " "), 255),
        "summary": clip(to_markdown(ticket.body, url=ticket.url) or ticket.title, SUMMARY_MAX),
    }
    if chunk:
        output["annotations"] = chunk
    return output


def conclusion(ticket: Ticket) -> str:
    value = ticket.extra.get("conclusion") or "neutral"
    if value not in CONCLUSIONS:
        raise ValueError(f"conclusion {value!r} is not one of {', '.join(CONCLUSIONS)}")
    return value


def check_ref(run: dict) -> RemoteRef:
    return RemoteRef(
        id=str(run["id"]),
        key=run.get("name", ""),
        url=run.get("html_url", ""),
        status=run.get("conclusion") or run.get("status", ""),
        extra={"kind": "check_run", "head_sha": run.get("head_sha", "")},
    )
