"""Reads of the read side, tenant first: the analytics the dashboard and the analytics API
show (docs/workspace.md, "Dashboard" and "Analytics API"). One set of functions for both, so
their numbers are the same; each result carries `as_of`. The analytics selectors are
replica-safe (fixops/platform/dbrouter.py): with DATABASE_REPLICA_URL they read the replica,
unless their request already wrote."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from apps.tenants.models import Tenant
from apps.workspace.analytics import flow, snapshot
from apps.workspace.analytics.feeds import feed_freshness
from fixops.platform.dbrouter import replica_safe

TREND_DAYS = 90  # the dashboard's trend, and the API's default
MAX_TREND_DAYS = flow.HISTORY_DAYS
SUMMARY_WEEKS = 13  # decisions per week on the summary: the last 13 weeks (about 90 days)


@replica_safe
def analytics_summary(*, tenant: Tenant) -> dict[str, Any]:
    """The dashboard's numbers: open findings by severity and SSVC, KEV exposure, SLA states,
    MTTR, opened vs closed over TREND_DAYS, decisions per week, riskiest applications, noise
    reduction (all as of the stored snapshot) and feed freshness (live, its own as_of)."""
    snap = snapshot.current(tenant)
    data = snap.data
    days = data["daily"][-TREND_DAYS:]
    return {
        "as_of": snap.as_of,
        "open": data["open"],
        "ssvc": data["ssvc"],
        "kev": data["kev"],
        "sla": data["sla"],
        "mttr": data["mttr"],
        "trend": {
            "days": TREND_DAYS,
            "opened": sum(d["opened"] for d in days),
            "closed": sum(d["closed"] for d in days),
        },
        "decisions": _decision_totals(data["weekly_decisions"][-SUMMARY_WEEKS:]),
        "riskiest_applications": data["riskiest"],
        "noise": data["noise"],
        "feeds": feed_freshness(tenant, now=timezone.now()),
    }


def _decision_totals(weeks: list[dict[str, Any]]) -> dict[str, Any]:
    outcomes = [k for k in (weeks[0] if weeks else {}) if k != "week"]
    return {
        "weeks": len(weeks),
        "since": weeks[0]["week"] if weeks else None,
        "by_outcome": {o: sum(w[o] for w in weeks) for o in outcomes},
        "by_week": weeks,
    }


@replica_safe
def analytics_trends(*, tenant: Tenant, days: int = TREND_DAYS) -> dict[str, Any]:
    """Opened and closed findings per day over the last `days` days (1..MAX_TREND_DAYS, today
    included) and decisions per outcome per week over the weeks those days touch."""
    snap = snapshot.current(tenant)
    daily = snap.data["daily"][-days:]
    first = daily[0]["day"]
    weeks = [w for w in snap.data["weekly_decisions"] if w["week"] >= _monday_of(first)]
    return {
        "as_of": snap.as_of,
        "days": days,
        "daily": daily,
        "opened": sum(d["opened"] for d in daily),
        "closed": sum(d["closed"] for d in daily),
        "decisions_by_week": weeks,
    }


def _monday_of(day: str) -> str:
    moment = date.fromisoformat(day)
    return (moment - timedelta(days=moment.weekday())).isoformat()


@replica_safe
def analytics_sla(*, tenant: Tenant) -> dict[str, Any]:
    """SLA compliance per application (apps/findings/sla.py's states and percent) and the
    tenant's total; applications without open or paused findings are left out."""
    snap = snapshot.current(tenant)
    applications = [
        {
            "application_id": a["application_id"],
            "name": a["name"],
            "open": a["open"],
            "by_state": a["by_state"],
            "on_time_percent": a["on_time_percent"],
        }
        for a in snap.data["applications"]
    ]
    return {"as_of": snap.as_of, "total": snap.data["sla"], "applications": applications}


def dashboard_tenant_list() -> QuerySet[Tenant]:
    """The active tenants a superuser may pick on the dashboard."""
    return Tenant.objects.filter(is_active=True).order_by("slug")


def dashboard_tenant_get(*, pk: int | None = None, slug: str = "") -> Tenant | None:
    """An active tenant by id or slug, or None."""
    tenants = Tenant.objects.filter(is_active=True)
    return tenants.filter(pk=pk).first() if pk is not None else tenants.filter(slug=slug).first()
