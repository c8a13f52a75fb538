"""What is sent: findings and decisions mapped to `Ticket`s, and our stable references.

The ticket is rendered when the message is written (the payload says exactly what will be
sent, and the drain needs no domain lookups); references are deterministic, so a retry, a
sync or a second scan finds the same remote object.
"""

from __future__ import annotations

import dataclasses
import hashlib

from django.conf import settings

from apps.connectors import templates
from apps.connectors.base import Ticket
from apps.connectors.models import Grouping, Integration
from apps.findings.models import Application, Finding
from apps.findings.models.finding import SEVERITY_RANK
from apps.findings.versions import smallest_fix_above
from fixops.platform import bulk

# Finding columns read (in bulk) to render a ticket.
FINDING_COLUMNS = (
    "id",
    "tenant_id",
    "application_id",
    "application__name",
    "status",
    "severity",
    "title",
    "message",
    "rule_id",
    "kind",
    "tool",
    "path",
    "line",
    "resource",
    "component_purl",
    "component_name",
    "component_version",
    "vuln_id",
    "cwe",
    "risk_score",
    "epss",
    "kev",
    "fixed_versions",
)
MAX_LISTED = 50  # findings listed in the body of a grouped ticket


def ticket_to_payload(ticket: Ticket) -> dict:
    data = dataclasses.asdict(ticket)
    data["labels"] = list(ticket.labels)
    return data


def ticket_from_payload(data: dict) -> Ticket:
    fields = {f.name for f in dataclasses.fields(Ticket)}
    values = {k: v for k, v in data.items() if k in fields}
    values["labels"] = tuple(values.get("labels") or ())
    return Ticket(**values)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def finding_reference(grouping: str, row: dict) -> str:
    """Our reference for the remote object that covers this finding under `grouping`."""
    if grouping == Grouping.RULE:
        return f"fixops-r-{row['application_id']}-{_digest(row['rule_id'])}"
    if grouping == Grouping.COMPONENT:
        component = row["component_purl"] or row["component_name"] or row["path"] or "-"
        return f"fixops-c-{row['application_id']}-{_digest(component)}"
    return f"fixops-f-{row['id']}"


def group_key(grouping: str, row: dict) -> tuple:
    """What the findings of one grouped ticket share (for one query over the group)."""
    if grouping == Grouping.RULE:
        return ("rule_id", row["rule_id"])
    return ("component", row["component_purl"] or row["component_name"] or row["path"] or "-")


def decision_reference(decision_id: int) -> str:
    return f"fixops-d-{decision_id}"


def application_report_reference(application_id: int) -> str:
    return f"fixops-a-{application_id}"


def meets_threshold(integration: Integration, row: dict) -> bool:
    """At or above the integration's severity bar and, when the risk is known, its risk bar."""
    if SEVERITY_RANK.get(row["severity"], 0) < SEVERITY_RANK.get(integration.min_severity, 0):
        return False
    risk = row.get("risk_score")
    return integration.min_risk is None or risk is None or risk >= integration.min_risk


def _public_url(path: str) -> str:
    base = settings.FIXOPS_PUBLIC_URL.rstrip("/")
    return f"{base}{path}" if base else ""


def _location(row: dict) -> str:
    if row["path"]:
        return f"{row['path']}:{row['line']}" if row["line"] else row["path"]
    return row["resource"] or "-"


def _component(row: dict) -> str:
    if row["component_name"]:
        return f"{row['component_name']} {row['component_version']}".strip()
    return row["component_purl"] or "-"


def upgrade_values(row: dict) -> dict[str, str]:
    """`fixed_versions` and `upgrade` advice for a package finding, from intel's fixed
    versions (the same smallest-fix-above rule as the finding page)."""
    fixed = [str(v).strip() for v in (row.get("fixed_versions") or []) if str(v).strip()]
    if not fixed:
        return {"fixed_versions": "-", "upgrade": "-"}
    target = smallest_fix_above(row["component_purl"] or "", row["component_version"] or "", fixed)
    component = _component(row)
    if target:
        advice = f"upgrade {row['component_name'] or row['component_purl'] or '-'} to {target}"
    else:
        advice = f"no fixed version above {component}; see the fixed versions"
    return {"fixed_versions": ", ".join(fixed[:20]), "upgrade": advice}


def _finding_values(row: dict) -> dict:
    return {
        **upgrade_values(row),
        "title": row["title"],
        "severity": row["severity"],
        "status": row["status"],
        "rule_id": row["rule_id"],
        "kind": row["kind"],
        "tool": row["tool"],
        "application": row["application__name"],
        "location": _location(row),
        "component": _component(row),
        "vuln_id": row["vuln_id"] or "-",
        "cwe": f"CWE-{row['cwe']}" if row["cwe"] else "-",
        "risk_score": row["risk_score"],
        "epss": row["epss"],
        "kev": row["kev"],
        "message": (row["message"] or row["title"])[:10_000],
        "url": _public_url(f"/admin/findings/finding/{row['id']}/change/"),
        "count": 1,
        "findings": "",
    }


def finding_ticket(integration: Integration, reference: str, rows: list[dict]) -> Ticket:
    """The ticket for one finding, or for a group of findings (worst first)."""
    rows = sorted(rows, key=lambda r: (-SEVERITY_RANK.get(r["severity"], 0), r["id"]))
    lead = rows[0]
    values = _finding_values(lead)
    values["reference"] = reference
    if len(rows) > 1 or integration.grouping != Grouping.FINDING:
        values["count"] = len(rows)
        listed = [
            f"- [{r['severity']}] {r['title']} at {_location(r)} (FixOps #{r['id']})"
            for r in rows[:MAX_LISTED]
        ]
        if len(rows) > MAX_LISTED:
            listed.append(f"- ... and {len(rows) - MAX_LISTED} more")
        values["findings"] = f"Findings ({len(rows)}):\n" + "\n".join(listed)
        values["title"] = (
            f"{lead['rule_id']} ({len(rows)} findings)"
            if integration.grouping == Grouping.RULE
            else f"{_component(lead)} ({len(rows)} findings)"
        )
    return Ticket(
        reference=reference,
        title=templates.render(integration.templates, "title", values),
        body=templates.render(integration.templates, "body", values),
        severity=lead["severity"],
        labels=("fixops", f"fixops-{lead['severity']}"),
        status="open",
        url=values["url"],
    )


# --- Decisions ---------------------------------------------------------------------------------

CONCLUSIONS = {"BLOCK": "failure", "NEEDS_REVIEW": "action_required", "ALLOW": "success"}
SEVERITY_OF_OUTCOME = {"BLOCK": "critical", "NEEDS_REVIEW": "high", "ALLOW": "info"}
ANNOTATION_LEVELS = {"deny": "failure", "review": "warning", "warn": "notice"}


def _reasons_text(reasons: list) -> str:
    lines = []
    for reason in reasons[:50]:
        if not isinstance(reason, dict):
            continue
        level = str(reason.get("level", "")).upper()
        lines.append(f"- {level} {reason.get('rule', '')}: {reason.get('message', '')}")
    return "\n".join(lines) or "No policy reasons."


def decision_values(decision, reference: str) -> dict:
    counts = decision.counts or {}
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no counts"
    return {
        "outcome": decision.outcome,
        "application": decision.application.name,
        "commit": decision.commit or "-",
        "branch": decision.branch or "-",
        "pipeline_run": decision.pipeline_run or "-",
        "confidence": f"{float(decision.confidence or 0):.2f}",
        "summary": f"{decision.outcome} ({summary})",
        "reasons": _reasons_text(decision.reasons or []),
        "url": _public_url(f"/api/v1/decisions/{decision.pk}/"),
        "reference": reference,
    }


def decision_ticket(
    integration: Integration, decision, reference: str, extra: dict | None = None
) -> Ticket:
    values = decision_values(decision, reference)
    return Ticket(
        reference=reference,
        title=templates.render(integration.templates, "decision_title", values),
        body=templates.render(integration.templates, "decision_body", values),
        severity=SEVERITY_OF_OUTCOME.get(decision.outcome, "info"),
        labels=("fixops", f"fixops-{decision.outcome.lower()}"),
        status="open",
        url=values["url"],
        extra=extra or {},
    )


def annotations(decision, locations: dict[int, dict]) -> list[dict]:
    """Check-run annotations for the decision's findings that have a file location."""
    out = []
    for reason in decision.reasons or []:
        if not isinstance(reason, dict):
            continue
        level = ANNOTATION_LEVELS.get(reason.get("level"), "notice")
        for finding_id in reason.get("finding_ids") or []:
            row = locations.get(finding_id)
            if row is None or not row["path"]:
                continue
            line = row["line"] or 1
            out.append(
                {
                    "path": row["path"],
                    "start_line": line,
                    "end_line": line,
                    "annotation_level": level,
                    "title": f"{row['severity']}: {row['title']}"[:255],
                    "message": f"{reason.get('rule', '')}: {reason.get('message', '')}"[:64_000],
                }
            )
    return out


def finding_rows(ids: list[int]) -> dict[int, dict]:
    """The ticket columns of these findings (one array query, plus one for app names)."""
    columns = [c for c in FINDING_COLUMNS if c != "application__name"]
    rows = bulk.values_for_ids(Finding.objects.all(), "id", sorted(set(ids)), *columns)
    found = {row[0]: dict(zip(columns, row, strict=True)) for row in rows}
    names = dict(
        Application.objects.filter(
            pk__in={r["application_id"] for r in found.values()}
        ).values_list("id", "name")
    )
    for row in found.values():
        row["application__name"] = names.get(row["application_id"], "")
    return found
