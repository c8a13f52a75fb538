"""The report document: plain data (dicts, lists, numbers, datetimes) read in a fixed number
of queries whatever the tenant holds. Lists are cut to their first rows and say how many
there are in all (`total`), so a report's size and time stay bounded.

`report_application` and `report_tenant` are the entry points; each section is one function
below, taking the findings, acceptances and decisions that are in scope.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, F, Max, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from apps.findings import sla
from apps.findings.lifecycle import ACTIVE
from apps.findings.models import Application, Finding, FindingStatus, Severity, SlaState
from apps.policies.models import (
    AcceptanceScope,
    AcceptanceStatus,
    Decision,
    Outcome,
    RiskAcceptance,
)
from apps.policies.selectors import acceptance_list, decision_list
from apps.tenants.models import Tenant

# Rows a list shows; the rest are counted (`total`).
TOP_RISKS = 10
TOP_APPLICATIONS = 10
SLA_ROWS = 25
EXCEPTION_ROWS = 25
DECISION_ROWS = 20
# Decisions are counted by outcome over this many days.
DECISION_WINDOW_DAYS = 90
# A justification longer than this is cut (the acceptance's page holds the whole text).
JUSTIFICATION_CHARS = 500
SSVC_ORDER = ("Act", "Attend", "Track*", "Track")
SCOPE_LABELS = {
    AcceptanceScope.FINDING: "one finding",
    AcceptanceScope.VULNERABILITY_APP: "vulnerability in this application",
    AcceptanceScope.VULNERABILITY_ALL: "vulnerability in every application",
    AcceptanceScope.RULE_PATH: "rule on matching paths",
}
_OPEN = sorted(ACTIVE)

Link = Callable[[str], str]


def report_application(
    *, tenant: Tenant, application: Application, now: datetime | None = None, link: Link = str
) -> dict[str, Any]:
    """The report of one application of `tenant` (the caller has resolved it in `tenant`).
    `link` turns a path into the URL the report prints (absolute, for a download)."""
    now = now or timezone.now()
    findings = Finding.objects.for_tenant(tenant).filter(application=application)
    acceptances = acceptance_list(tenant=tenant).filter(
        Q(application=application) | Q(application__isnull=True)
    )
    decisions = decision_list(tenant=tenant, filters={"application": application.pk})
    return {
        "kind": "application",
        "title": f"Security report: {application.name}",
        "tenant": {"slug": tenant.slug, "name": tenant.name},
        "application": {
            "id": application.pk,
            "name": application.name,
            "criticality": application.criticality,
            "internet_exposed": application.internet_exposed,
            "data_classification": application.data_classification,
            "repo_url": application.repo_url,
        },
        "as_of": now,
        **_sections(tenant, findings, acceptances, decisions, now=now, link=link),
    }


def report_tenant(*, tenant: Tenant, now: datetime | None = None, link: Link = str) -> dict:
    """The report of every application of `tenant`, with its riskiest applications."""
    now = now or timezone.now()
    findings = Finding.objects.for_tenant(tenant)
    return {
        "kind": "tenant",
        "title": f"Security report: {tenant.name}",
        "tenant": {"slug": tenant.slug, "name": tenant.name},
        "application": None,
        "as_of": now,
        **_sections(
            tenant,
            findings,
            acceptance_list(tenant=tenant),
            decision_list(tenant=tenant),
            now=now,
            link=link,
        ),
        "applications": applications_section(tenant, findings, now=now),
    }


def _listed(rows: list[dict[str, Any]], total: int) -> dict[str, Any]:
    """A list section: its first rows, how many there are, how many are not shown."""
    return {"rows": rows, "total": total, "more": max(total - len(rows), 0)}


def _sections(tenant, findings, acceptances, decisions, *, now, link) -> dict[str, Any]:
    decided = decisions_section(decisions, now=now, link=link)
    return {
        "posture": posture_section(findings, now=now),
        "sla": sla_section(tenant, findings, now=now),
        "exceptions": exceptions_section(acceptances, now=now),
        "decisions": decided["decisions"],
        "evidence": decided["evidence"],
    }


# --- posture --------------------------------------------------------------------------------

FINDING_ROW = (
    "id",
    "title",
    "severity",
    "risk_score",
    "ssvc",
    "epss",
    "kev",
    "vuln_id",
    "component_name",
    "component_version",
    "application__name",
    "status",
    "due_at",
)


def posture_section(findings: QuerySet[Finding], *, now: datetime) -> dict[str, Any]:
    """Open findings by severity and SSVC, KEV exposure, and the riskiest open findings
    (one aggregate and one top-N query)."""
    is_open = Q(status__in=_OPEN)
    counts = findings.filter(status__in=[*_OPEN, FindingStatus.RISK_ACCEPTED]).aggregate(
        open=Count("id", filter=is_open),
        accepted=Count("id", filter=Q(status=FindingStatus.RISK_ACCEPTED)),
        kev_open=Count("id", filter=is_open & Q(kev=True)),
        kev_overdue=Count("id", filter=is_open & Q(kev=True, due_at__lt=now)),
        kev_vulnerabilities=Count("vuln_id", filter=is_open & Q(kev=True), distinct=True),
        **{f"severity_{s}": Count("id", filter=is_open & Q(severity=s)) for s in Severity.values},
        **{
            f"ssvc_{i}": Count("id", filter=is_open & Q(ssvc=decision))
            for i, decision in enumerate(SSVC_ORDER)
        },
    )
    top = list(
        findings.filter(is_open)
        .order_by(F("risk_score").desc(nulls_last=True), "-id")
        .values(*FINDING_ROW)[:TOP_RISKS]
    )
    by_ssvc = {d: counts[f"ssvc_{i}"] for i, d in enumerate(SSVC_ORDER)}
    by_ssvc["unscored"] = counts["open"] - sum(by_ssvc.values())
    return {
        "open": counts["open"],
        "accepted": counts["accepted"],
        "by_severity": {s: counts[f"severity_{s}"] for s in Severity.values},
        "by_ssvc": by_ssvc,
        "kev": {
            "open": counts["kev_open"],
            "vulnerabilities": counts["kev_vulnerabilities"],
            "overdue": counts["kev_overdue"],
        },
        "top_risks": _listed([_finding(r) for r in top], counts["open"]),
    }


def _finding(row: dict[str, Any]) -> dict[str, Any]:
    row["application"] = row.pop("application__name")
    row["component"] = " ".join(
        part for part in (row.pop("component_name"), row.pop("component_version")) if part
    )
    return row


# --- SLA ------------------------------------------------------------------------------------


def sla_section(tenant: Tenant, findings: QuerySet[Finding], *, now: datetime) -> dict:
    """SLA compliance (apps/findings/sla.py, the numbers of /applications/{id}/sla/) and the
    overdue and due-soon findings, soonest due first."""
    compliance = sla.compliance(findings, tenant_id=tenant.pk, now=now)
    soon = compliance["due_soon_days"]
    lists = {}
    for state in (SlaState.OVERDUE, SlaState.DUE_SOON):
        rows = (
            findings.filter(sla.state_filter(state, now=now, due_soon_days=soon))
            .order_by("due_at", "id")
            .values(*FINDING_ROW)[:SLA_ROWS]
        )
        lists[state.value] = _listed([_finding(r) for r in rows], compliance["by_state"][state])
    return {
        "open": compliance["open"],
        "by_state": compliance["by_state"],
        "on_time_percent": compliance["on_time_percent"],
        "due_soon_days": soon,
        "overdue": lists[SlaState.OVERDUE.value],
        "due_soon": lists[SlaState.DUE_SOON.value],
    }


# --- applications (tenant report) -----------------------------------------------------------


def applications_section(tenant: Tenant, findings: QuerySet[Finding], *, now: datetime) -> dict:
    """The riskiest applications: most open critical, then high findings, then the highest
    risk score; one grouped query, plus the number of applications."""
    is_open = Q(status__in=_OPEN)
    rows = list(
        findings.filter(is_open)
        .values("application_id", "application__name")
        .annotate(
            open=Count("id"),
            critical=Count("id", filter=Q(severity=Severity.CRITICAL)),
            high=Count("id", filter=Q(severity=Severity.HIGH)),
            kev=Count("id", filter=Q(kev=True)),
            overdue=Count("id", filter=Q(due_at__lt=now)),
            max_risk=Max("risk_score"),
        )
        .order_by("-critical", "-high", F("max_risk").desc(nulls_last=True), "application_id")[
            :TOP_APPLICATIONS
        ]
    )
    for row in rows:
        row["id"] = row.pop("application_id")
        row["name"] = row.pop("application__name")
    with_open = findings.filter(is_open).values("application_id").distinct().count()
    return {
        **_listed(rows, with_open),
        "applications": Application.objects.for_tenant(tenant).count(),
    }


# --- exceptions (risk acceptances) ----------------------------------------------------------


def exceptions_section(acceptances: QuerySet[RiskAcceptance], *, now: datetime) -> dict:
    """Risk acceptances: active (approved, not yet expired), pending (requested) and expired
    (expired, or approved but past expiry before the beat task closed it), with the
    justification, who asked, who approved and when each ends."""
    approved = Q(status=AcceptanceStatus.APPROVED)
    states = {
        "active": approved & Q(expires_at__gt=now),
        "pending": Q(status=AcceptanceStatus.REQUESTED),
        "expired": Q(status=AcceptanceStatus.EXPIRED) | (approved & Q(expires_at__lte=now)),
    }
    counts = acceptances.aggregate(
        **{name: Count("id", filter=match) for name, match in states.items()},
        revoked=Count("id", filter=Q(status=AcceptanceStatus.REVOKED)),
        rejected=Count("id", filter=Q(status=AcceptanceStatus.REJECTED)),
    )
    orderings = {
        "active": ("expires_at", "id"),  # ending soonest first
        "pending": ("requested_at", "id"),  # waiting longest first
        "expired": ("-expires_at", "-id"),  # most recent first
    }
    section: dict[str, Any] = {"counts": counts}
    for name, match in states.items():
        rows = (
            acceptances.filter(match)
            .select_related("application", "finding")
            .order_by(*orderings[name])[:EXCEPTION_ROWS]
        )
        section[name] = _listed([_acceptance(a) for a in rows], counts[name])
    return section


def _acceptance(acceptance: RiskAcceptance) -> dict[str, Any]:
    if acceptance.finding_id is not None:
        target = f"finding {acceptance.finding_id}: {acceptance.finding.title}"
    else:
        target = " ".join(
            part
            for part in (acceptance.vuln_id, acceptance.rule_id, acceptance.path_pattern)
            if part
        )
    justification = acceptance.justification
    if len(justification) > JUSTIFICATION_CHARS:
        justification = justification[: JUSTIFICATION_CHARS - 1] + "…"
    return {
        "id": acceptance.pk,
        "scope": acceptance.scope,
        "scope_label": SCOPE_LABELS.get(acceptance.scope, acceptance.scope),
        "target": target,
        "application": acceptance.application.name if acceptance.application else "all",
        "status": acceptance.status,
        "justification": justification,
        "requested_by": acceptance.requested_label,
        "requested_at": acceptance.requested_at,
        "approver": acceptance.reviewed_label,
        "reviewed_at": acceptance.reviewed_at,
        "expires_at": acceptance.expires_at,
    }


# --- decisions and their evidence -----------------------------------------------------------


def decisions_section(decisions: QuerySet[Decision], *, now: datetime, link: Link) -> dict:
    """Decisions by outcome over the window, the most recent ones, and the evidence bundle
    of each of those (ids, digests, where to verify and download it)."""
    since = now - timedelta(days=DECISION_WINDOW_DAYS)
    window = decisions.prefetch_related(None).filter(created_at__gte=since)
    counts = window.aggregate(
        total=Count("id"),
        **{o.lower(): Count("id", filter=Q(outcome=o)) for o in Outcome.values},
    )
    recent = list(decisions.prefetch_related(None)[:DECISION_ROWS])
    rows, evidence = [], []
    for decision in recent:
        rows.append(
            {
                "id": decision.pk,
                "created_at": decision.created_at,
                "application": decision.application.name,
                "outcome": decision.outcome,
                "confidence": decision.confidence,
                "commit": decision.commit,
                "branch": decision.branch,
                "policy": f"{decision.policy_version.policy.name} "
                f"v{decision.policy_version.number}",
                "reasons": len(decision.reasons or []),
            }
        )
        bundle = getattr(decision, "evidence", None)
        if bundle is not None:
            evidence.append(
                {
                    "decision_id": decision.pk,
                    "bundle_id": bundle.pk,
                    "status": bundle.status,
                    "envelope_digest": bundle.envelope_digest,
                    "payload_digest": bundle.payload_digest,
                    "keyid": bundle.keyid,
                    "algorithm": bundle.algorithm,
                    "verify_url": link(reverse("v1:evidence-verify", args=[bundle.pk])),
                    "bundle_url": link(reverse("v1:evidence-bundle", args=[bundle.pk])),
                }
            )
    return {
        "decisions": {
            "window_days": DECISION_WINDOW_DAYS,
            "by_outcome": {o: counts[o.lower()] for o in Outcome.values},
            "in_window": counts["total"],
            "recent": _listed(rows, decisions.count()),
        },
        # The bundles of the decisions listed above (a decision whose gate failed before
        # signing has none).
        "evidence": _listed(evidence, len(evidence)),
    }
