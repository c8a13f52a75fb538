"""Open findings now: by severity, SSVC, KEV, SLA state and application.

"Open" is the lifecycle's ACTIVE set (open, triaged, in_progress, reopened). SLA states are
apps/findings/sla.py's own (`state_expression`, `compliance`), so paused counts risk-accepted
findings as that module does; deadlines are the stored `due_at`, never recomputed here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Q, Sum

from apps.findings import sla
from apps.findings.lifecycle import ACTIVE
from apps.findings.models import Application, Finding, FindingStatus, Severity, SlaState
from apps.tenants.models import Tenant

SSVC_ORDER = ("Act", "Attend", "Track*", "Track")
RISKIEST = 10
_OPEN = Q(status__in=sorted(ACTIVE))
# The findings an SLA state applies to: the open ones and the paused (risk accepted) ones.
_SLA_SCOPE = sorted({*ACTIVE, FindingStatus.RISK_ACCEPTED})


def open_by_severity(tenant: Tenant) -> dict[str, Any]:
    """Open findings per severity (every severity listed) and KEV findings among them."""
    rows = (
        Finding.objects.filter(tenant=tenant)
        .filter(_OPEN)
        .values("severity")
        .annotate(n=Count("id"), kev=Count("id", filter=Q(kev=True)))
    )
    found = {r["severity"]: r for r in rows}
    by_severity = {s: found.get(s, {}).get("n", 0) for s in Severity.values}
    kev = {s: found.get(s, {}).get("kev", 0) for s in Severity.values}
    return {"total": sum(by_severity.values()), "by_severity": by_severity, "kev": kev}


def open_by_ssvc(tenant: Tenant) -> dict[str, int]:
    """Open findings per SSVC decision; "" (not assessed) as `none`."""
    rows = (
        Finding.objects.filter(tenant=tenant).filter(_OPEN).values("ssvc").annotate(n=Count("id"))
    )
    found = {r["ssvc"]: r["n"] for r in rows}
    out = {decision: found.pop(decision, 0) for decision in SSVC_ORDER}
    out["none"] = sum(found.values())  # "" and anything unexpected: not assessed
    return out


def by_application(tenant: Tenant, *, now: datetime) -> dict[str, Any]:
    """Per application: open findings by SLA state, KEV findings, the sum and maximum of open
    risk scores; one grouped query. Returns the tenant's SLA compliance too, by
    apps/findings/sla.py `compliance` at the same `now`."""
    rows = (
        sla.with_state(
            Finding.objects.filter(tenant=tenant, status__in=_SLA_SCOPE),
            tenant_id=tenant.pk,
            now=now,
        )
        .values("application_id", "sla_state")
        .annotate(
            n=Count("id"),
            kev=Count("id", filter=_OPEN & Q(kev=True)),
            risk_sum=Sum("risk_score", filter=_OPEN),
            risk_max=Max("risk_score", filter=_OPEN),
        )
    )
    apps: dict[int, dict[str, Any]] = {}
    for row in rows:
        entry = apps.setdefault(
            row["application_id"],
            {
                "by_state": {s.value: 0 for s in SlaState},
                "kev": 0,
                "kev_overdue": 0,
                "risk_sum": 0.0,
                "risk_max": None,
            },
        )
        entry["by_state"][row["sla_state"]] += row["n"]
        entry["kev"] += row["kev"]
        if row["sla_state"] == SlaState.OVERDUE:
            entry["kev_overdue"] += row["kev"]
        entry["risk_sum"] += row["risk_sum"] or 0.0
        if row["risk_max"] is not None:
            entry["risk_max"] = max(entry["risk_max"] or 0.0, row["risk_max"])
    names = dict(
        Application.objects.filter(tenant=tenant, pk__in=list(apps)).values_list("id", "name")
    )
    total = sla.compliance(Finding.objects.filter(tenant=tenant), tenant_id=tenant.pk, now=now)
    applications = [
        {"application_id": pk, "name": names.get(pk, f"#{pk}"), **entry, **_compliance(entry)}
        for pk, entry in apps.items()
    ]
    applications.sort(key=lambda a: a["name"])
    return {"applications": applications, "total": total}


def _compliance(entry: dict[str, Any]) -> dict[str, Any]:
    """`open` and `on_time_percent` of one application, as sla.compliance defines them."""
    states = entry["by_state"]
    running = states["on_time"] + states["due_soon"] + states["overdue"]
    percent = round(100 * (running - states["overdue"]) / running, 1) if running else None
    return {"open": running + states["paused"], "on_time_percent": percent}


def riskiest(applications: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The RISKIEST applications by the sum of their open findings' risk scores (then the
    highest single score, then the name); applications with no open finding are left out."""
    ranked = [a for a in applications if a["open"] - a["by_state"]["paused"] > 0]
    ranked.sort(key=lambda a: (-a["risk_sum"], -(a["risk_max"] or 0.0), a["name"]))
    return [
        {
            "application_id": a["application_id"],
            "name": a["name"],
            "open": a["open"] - a["by_state"]["paused"],
            "kev": a["kev"],
            "risk_sum": round(a["risk_sum"], 2),
            "risk_max": None if a["risk_max"] is None else round(a["risk_max"], 2),
        }
        for a in ranked[:RISKIEST]
    ]


def kev_exposure(applications: list[dict[str, Any]]) -> dict[str, int]:
    """Open KEV findings, those past their SLA, and the applications holding at least one."""
    return {
        "open_findings": sum(a["kev"] for a in applications),
        "overdue_findings": sum(a["kev_overdue"] for a in applications),
        "applications": sum(1 for a in applications if a["kev"]),
    }
