"""The dashboard: the admin index for the tenant the viewer acts in (docs/workspace.md,
"Dashboard"). Numbers from apps/workspace/selectors.py (the analytics API's), geometry from
charts.py; every tile links to the list behind it with the findings changelist's filter
parameters (`state`, `severity`, `ssvc`, `kev`, `sla`, `application`, ...).

Staff see the tenant they act in (the header's switcher); superusers, who act in every
tenant, pick one with `?tenant=<slug>`; someone with no tenant sees a note instead.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from apps.advisory.advice_selectors import advice_agree_rates
from apps.advisory.services import available as advisory_available
from apps.findings.models import Severity, SlaState
from apps.policies.models import Outcome
from apps.tenants.admin_scoping import admin_roles_for
from apps.tenants.models import Tenant
from apps.workspace import charts
from apps.workspace.analytics.posture import SSVC_ORDER
from apps.workspace.selectors import (
    TREND_DAYS,
    analytics_summary,
    analytics_trends,
    dashboard_tenant_get,
    dashboard_tenant_list,
)

SLA_LABELS = {
    SlaState.OVERDUE: "Overdue",
    SlaState.DUE_SOON: "Due soon",
    SlaState.ON_TIME: "On time",
    SlaState.PAUSED: "Paused",
}
STALE_AFTER = timedelta(minutes=15)
ADVICE_DAYS = 90
OUTCOMES = [
    (Outcome.BLOCK, "Block", "fx-block"),
    (Outcome.NEEDS_REVIEW, "Needs review", "fx-review"),
    (Outcome.ALLOW, "Allow", "fx-allow"),
]


def tenant_for(request) -> tuple[Tenant | None, list[Tenant]]:
    """The tenant the dashboard shows and, for superusers, the tenants they may pick."""
    roles = admin_roles_for(request)
    if roles is None:  # a superuser: every tenant, one at a time by ?tenant=
        slug = request.GET.get("tenant", "")
        return (dashboard_tenant_get(slug=slug) if slug else None), list(dashboard_tenant_list())
    tenant_id = next(iter(roles), None)
    return (None if tenant_id is None else dashboard_tenant_get(pk=tenant_id)), []


class Links:
    """URLs of the lists behind the tiles, in the viewer's tenant."""

    def __init__(self, tenant: Tenant, *, superuser: bool):
        self.findings = reverse("admin:findings_finding_changelist")
        self.decisions = reverse("admin:policies_decision_changelist")
        # A superuser's changelists show every tenant: narrow them to this one.
        self.scope = {"tenant__id__exact": tenant.pk} if superuser else {}

    def finding(self, **params: Any) -> str:
        return f"{self.findings}?{urlencode({**params, **self.scope})}"

    def decision(self, **params: Any) -> str:
        return f"{self.decisions}?{urlencode({**params, **self.scope})}"

    def decisions_week(self, monday: str, outcome: str = "") -> str:
        # Aware bounds (UTC, the weeks' own zone): a bare date would be read in TIME_ZONE.
        start = datetime.combine(date.fromisoformat(monday), time.min, tzinfo=UTC)
        params = {
            "created_at__gte": start.isoformat(),
            "created_at__lt": (start + timedelta(days=7)).isoformat(),
        }
        if outcome:
            params["outcome__exact"] = outcome
        return self.decision(**params)


def build(request) -> dict[str, Any]:
    """The template context of the dashboard (`dashboard` in templates/admin/index.html)."""
    tenant, choices = tenant_for(request)
    if tenant is None:
        return {"tenant": None, "choices": choices, "superuser": request.user.is_superuser}
    links = Links(tenant, superuser=request.user.is_superuser)
    summary = analytics_summary(tenant=tenant)
    trends = analytics_trends(tenant=tenant, days=TREND_DAYS)
    return {
        "tenant": tenant,
        "choices": choices,
        "superuser": request.user.is_superuser,
        "summary": summary,
        # Older than three refresh periods: beat (or its worker) is probably not running.
        "stale": timezone.now() - summary["as_of"] > STALE_AFTER,
        "tiles": _tiles(summary, links),
        "severity_chart": _severity_chart(summary, links),
        "ssvc_chart": _ssvc_chart(summary, links),
        "sla_chart": _sla_chart(summary, links),
        "mttr_rows": _mttr_rows(summary),
        "trend_chart": charts.line_chart(
            trends["daily"],
            [("opened", "Opened", "fx-opened"), ("closed", "Closed", "fx-closed")],
            x_key="day",
        ),
        "trends": trends,
        "decision_chart": _decision_chart(summary, links),
        "advice_quality": _advice_quality(tenant),
        "decision_totals": [
            {"outcome": o, "label": label, "n": summary["decisions"]["by_outcome"].get(o, 0)}
            for o, label, _ in OUTCOMES
        ],
        "riskiest": [
            {**a, "href": links.finding(state="active", application=a["application_id"])}
            for a in summary["riskiest_applications"]
        ],
        "links": {
            "findings": links.finding(state="active"),
            "closed": links.finding(state="all", status="fixed"),
            "all_findings": links.finding(state="all"),
            "decisions": links.decision(),
            "scans": reverse("admin:findings_scan_changelist"),
            "feeds": reverse("admin:intel_feedstatus_changelist"),
        },
    }


def _advice_quality(tenant: Tenant) -> dict[str, Any] | None:
    """Analysts' agree rate on AI advice of the last ADVICE_DAYS days (None when advisory is
    absent: the panel is hidden)."""
    if not advisory_available(tenant):
        return None
    since = timezone.now() - timedelta(days=ADVICE_DAYS)
    return {"days": ADVICE_DAYS, **advice_agree_rates(tenant=tenant, since=since)}


def _tiles(summary: dict[str, Any], links: Links) -> list[dict[str, Any]]:
    sla = summary["sla"]["by_state"]
    noise = summary["noise"]["noise_reduction"]
    feeds = summary["feeds"]
    return [
        {
            "key": "open",
            "label": "Open findings",
            "value": summary["open"]["total"],
            "href": links.finding(state="active"),
        },
        {
            "key": "critical",
            "label": "Open critical",
            "value": summary["open"]["by_severity"]["critical"],
            "href": links.finding(state="active", severity="critical"),
        },
        {
            "key": "kev",
            "label": "Open in KEV",
            "value": summary["kev"]["open_findings"],
            "href": links.finding(state="active", kev=1),
            "note": f"in {summary['kev']['applications']} application(s)",
        },
        {
            "key": "overdue_kev",
            "label": "Overdue in KEV",
            "value": summary["kev"]["overdue_findings"],
            "href": links.finding(kev=1, sla="overdue"),
            "alert": summary["kev"]["overdue_findings"] > 0,
            "note": "known exploited, past due",
        },
        {
            "key": "overdue",
            "label": "SLA overdue",
            "value": sla["overdue"],
            "href": links.finding(sla="overdue"),
            "alert": sla["overdue"] > 0,
        },
        {
            "key": "due_soon",
            "label": "SLA due soon",
            "value": sla["due_soon"],
            "href": links.finding(sla="due_soon"),
            "note": f"within {summary['sla']['due_soon_days']} days",
        },
        {
            "key": "on_time_percent",
            "label": "SLA on time",
            "value": "–"
            if summary["sla"]["on_time_percent"] is None
            else f"{summary['sla']['on_time_percent']}%",
            "href": links.finding(sla="on_time"),
        },
        {
            "key": "noise",
            "label": "Noise reduction",
            "value": "–" if noise is None else f"{round(noise * 100, 1)}%",
            "href": links.finding(state="all"),
            "note": f"{summary['noise']['results_received']:,} results → "
            f"{summary['noise']['findings_kept']:,} findings, {summary['noise']['window_days']} d",
        },
        {
            "key": "feeds",
            "label": "Stale feeds",
            "value": feeds["stale"],
            "href": reverse("admin:intel_feedstatus_changelist"),
            "alert": feeds["stale"] > 0,
            "note": f"max age {feeds['max_age_hours']} h",
        },
    ]


def _severity_chart(summary: dict[str, Any], links: Links) -> charts.BarChart:
    counts = summary["open"]["by_severity"]
    return charts.bar_chart(
        [
            charts.Bar(
                label=label,
                value=counts[value],
                css=f"fx-sev-{value}",
                href=links.finding(state="active", severity=value),
            )
            for value, label in Severity.choices
        ]
    )


def _ssvc_chart(summary: dict[str, Any], links: Links) -> charts.BarChart:
    counts = summary["ssvc"]
    return charts.bar_chart(
        [
            *(
                charts.Bar(
                    label=d,
                    value=counts[d],
                    css="fx-ssvc",
                    href=links.finding(state="active", ssvc=d),
                )
                for d in SSVC_ORDER
            ),
            charts.Bar(
                label="Not assessed",
                value=counts["none"],
                css="fx-muted",
                href=links.finding(state="active"),
            ),
        ]
    )


def _sla_chart(summary: dict[str, Any], links: Links) -> charts.BarChart:
    counts = summary["sla"]["by_state"]
    return charts.bar_chart(
        [
            charts.Bar(
                label=label,
                value=counts[state],
                css=f"fx-sla-{state}",
                href=links.finding(sla=state),
            )
            for state, label in SLA_LABELS.items()
        ]
    )


def _mttr_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    mttr = summary["mttr"]
    rows = [{"label": label, **mttr["by_severity"][value]} for value, label in Severity.choices]
    return [*rows, {"label": "All", **mttr["all"]}]


def _decision_chart(summary: dict[str, Any], links: Links) -> charts.ColumnChart:
    weeks = summary["decisions"]["by_week"]
    hrefs = {
        (w["week"], o): links.decisions_week(w["week"], o) for w in weeks for o, _, _ in OUTCOMES
    }
    return charts.stacked_columns(weeks, OUTCOMES, x_key="week", hrefs=hrefs)
