"""Intel events people should hear about: KEV additions and EPSS crossings of open findings.

The feeds bulk-insert `IntelEvent` rows and, in the same transaction, emit one platform event
per tenant and kind (`INTEL_RECORDED`) naming the batch by its timestamp; apps/pipeline turns
that into notices (`intel_notices`: one per CVE, for the findings still open) and hands them to
the tenant's notification rules. Only upward EPSS crossings are announced: a score falling
below the threshold is stored, not sent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from apps.findings.models import Finding
from apps.findings.models.finding import SEVERITY_RANK
from apps.findings.versions import smallest_fix_above
from apps.intel.feeds import OPEN_STATUSES
from apps.intel.models import IntelEvent
from fixops.platform import events

INTEL_RECORDED = "intel.events_recorded"
ANNOUNCED_KINDS = (IntelEvent.Kind.KEV_ADDED.value, IntelEvent.Kind.EPSS_CROSSED.value)
NOTICE_LINES = 20  # findings a notice names one by one; the rest are counted


def intel_recorded_emit(*, kind: str, tenant_ids: Iterable[int], now: datetime) -> None:
    """Call in the transaction that inserted the `kind` events stamped `now`."""
    for tenant_id in sorted(set(tenant_ids)):
        events.emit(
            topic=INTEL_RECORDED,
            tenant_id=tenant_id,
            payload={"kind": kind, "created_at": now.isoformat()},
        )


def intel_notices(*, tenant_id: int, kind: str, created_at: datetime) -> list[dict]:
    """One notice per CVE of the batch: title, body, worst severity, finding ids, and what
    fixes it where intel knows; findings closed since are left out."""
    if kind not in ANNOUNCED_KINDS:
        return []
    rows = IntelEvent.objects.filter(tenant_id=tenant_id, kind=kind, created_at=created_at)
    by_cve: dict[str, list[IntelEvent]] = defaultdict(list)
    for event in rows.order_by("vuln_id", "pk"):
        if kind == IntelEvent.Kind.EPSS_CROSSED and event.details.get("direction") != "up":
            continue
        by_cve[event.vuln_id].append(event)
    finding_ids = [e.finding_id for evs in by_cve.values() for e in evs if e.finding_id]
    findings = {
        f["id"]: f
        for f in Finding.objects.filter(
            tenant_id=tenant_id, pk__in=finding_ids, status__in=OPEN_STATUSES
        ).values(
            "id",
            "severity",
            "title",
            "application__name",
            "component_name",
            "component_purl",
            "component_version",
            "fixed_versions",
        )
    }
    notices = []
    for cve, cve_events in sorted(by_cve.items()):
        open_rows = [findings[e.finding_id] for e in cve_events if e.finding_id in findings]
        if not open_rows:
            continue
        notices.append(_notice(kind, cve, cve_events[0], open_rows))
    return notices


def _notice(kind: str, cve: str, first: IntelEvent, rows: list[dict]) -> dict:
    rows.sort(key=lambda r: (-SEVERITY_RANK.get(r["severity"], 0), r["id"]))
    details = first.details or {}
    if kind == IntelEvent.Kind.KEV_ADDED:
        title = f"{cve} is now in CISA KEV: {len(rows)} open finding(s)"
        lead = (
            f"{details.get('vendor', '')} {details.get('product', '')}: {details.get('name', '')}"
            f"\nRequired action: {details.get('required_action', '-')}"
            f" (due {details.get('due_date', '-')}; ransomware: {details.get('ransomware', '-')})"
        )
    else:
        title = f"{cve}: EPSS rose above {details.get('threshold')}: {len(rows)} open finding(s)"
        lead = (
            f"EPSS {details.get('from')} -> {details.get('to')} "
            f"(scores of {details.get('score_date', '-')})"
        )
    lines = [
        f"#{r['id']} {r['severity']} {r['title'][:120]} ({r['application__name']})" + _advice(r)
        for r in rows[:NOTICE_LINES]
    ]
    if len(rows) > NOTICE_LINES:
        lines.append(f"... and {len(rows) - NOTICE_LINES} more")
    return {
        "vuln_id": cve,
        "title": title,
        "body": lead + "\n\n" + "\n".join(lines),
        "severity": rows[0]["severity"],
        "finding_ids": [r["id"] for r in rows],
        "details": details,
    }


def _advice(row: dict) -> str:
    fixed = [str(v) for v in row["fixed_versions"] or [] if str(v).strip()]
    if not fixed:
        return ""
    target = smallest_fix_above(row["component_purl"] or "", row["component_version"] or "", fixed)
    name = row["component_name"] or row["component_purl"] or "the component"
    return f"; upgrade {name} to {target}" if target else f"; fixed in {', '.join(fixed[:5])}"
