"""Findings and decisions over time: MTTR, opened vs closed per day, decisions per week,
noise reduction. Each function names its window; days are UTC calendar days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connections
from django.db.models import Count
from django.db.models.functions import TruncDate, TruncWeek

from apps.findings.counts import result_counts
from apps.findings.models import Finding, Scan, ScanStatus, Severity
from apps.policies.models import Decision, Outcome
from apps.tenants.models import Tenant
from fixops.platform.dbrouter import read_alias

MTTR_DAYS = 90  # MTTR: findings closed in the last 90 days
NOISE_DAYS = 90  # noise reduction: scans received and findings first seen in the last 90 days
HISTORY_DAYS = 365  # the trend a snapshot keeps; the API serves any 1..365 of it
HISTORY_WEEKS = 53

_MTTR_SQL = """
SELECT severity, count(*),
       avg(extract(epoch FROM closed_at - first_seen)) / 86400,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - first_seen))
           / 86400
FROM findings_finding
WHERE tenant_id = %s AND closed_at IS NOT NULL AND closed_at >= %s AND closed_at <= %s
GROUP BY severity
"""


def mttr(tenant: Tenant, *, now: datetime) -> dict[str, Any]:
    """Mean and median days from first_seen to closed_at, per severity and overall, of the
    findings closed (closed_at set: fixed by a scan) in the last MTTR_DAYS days."""
    since = now - timedelta(days=MTTR_DAYS)
    # Raw SQL goes through the alias the router would pick (the replica inside compute()).
    with connections[read_alias()].cursor() as cursor:
        cursor.execute(_MTTR_SQL, [tenant.pk, since, now])
        rows = {r[0]: r[1:] for r in cursor.fetchall()}
        cursor.execute(
            "SELECT count(*), avg(extract(epoch FROM closed_at - first_seen)) / 86400,"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at -"
            " first_seen)) / 86400 FROM findings_finding WHERE tenant_id = %s AND closed_at"
            " IS NOT NULL AND closed_at >= %s AND closed_at <= %s",
            [tenant.pk, since, now],
        )
        overall = cursor.fetchone()

    def entry(row) -> dict[str, Any]:
        closed, mean, median = row if row else (0, None, None)
        return {
            "closed": closed or 0,
            "mean_days": None if mean is None else round(float(mean), 1),
            "median_days": None if median is None else round(float(median), 1),
        }

    return {
        "window_days": MTTR_DAYS,
        "by_severity": {s: entry(rows.get(s)) for s in Severity.values},
        "all": entry(overall),
    }


def _days(until: date, count: int) -> list[date]:
    return [until - timedelta(days=count - 1 - i) for i in range(count)]


def daily(tenant: Tenant, *, now: datetime) -> list[dict[str, Any]]:
    """Findings opened (first_seen) and closed (closed_at) per UTC day, the last HISTORY_DAYS
    days up to today, oldest first; every day listed."""
    days = _days(now.astimezone(UTC).date(), HISTORY_DAYS)
    since = datetime.combine(days[0], datetime.min.time(), tzinfo=UTC)
    base = Finding.objects.filter(tenant=tenant)
    opened = dict(
        base.filter(first_seen__gte=since, first_seen__lte=now)
        .annotate(day=TruncDate("first_seen", tzinfo=UTC))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    closed = dict(
        base.filter(closed_at__gte=since, closed_at__lte=now)
        .annotate(day=TruncDate("closed_at", tzinfo=UTC))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    return [
        {"day": d.isoformat(), "opened": opened.get(d, 0), "closed": closed.get(d, 0)} for d in days
    ]


def weekly_decisions(tenant: Tenant, *, now: datetime) -> list[dict[str, Any]]:
    """Decisions per outcome per ISO week (Monday to Sunday, UTC), the last HISTORY_WEEKS
    weeks including the current one, oldest first; every week listed."""
    today = now.astimezone(UTC).date()
    monday = today - timedelta(days=today.weekday())
    weeks = [monday - timedelta(weeks=HISTORY_WEEKS - 1 - i) for i in range(HISTORY_WEEKS)]
    since = datetime.combine(weeks[0], datetime.min.time(), tzinfo=UTC)
    rows = (
        Decision.objects.filter(tenant=tenant, created_at__gte=since, created_at__lte=now)
        .annotate(week=TruncWeek("created_at", tzinfo=UTC))
        .values("week", "outcome")
        .annotate(n=Count("id"))
    )
    counts: dict[tuple[date, str], int] = {}
    for row in rows:
        week = row["week"].date() if isinstance(row["week"], datetime) else row["week"]
        counts[(week, row["outcome"])] = row["n"]
    return [
        {"week": w.isoformat(), **{o: counts.get((w, o), 0) for o in Outcome.values}} for w in weeks
    ]


def noise_reduction(tenant: Tenant, *, now: datetime) -> dict[str, Any]:
    """1 - findings kept / results received over the last NOISE_DAYS days: results are every
    result of the finished scans received then (apps/findings/counts.py: findings + lost +
    suppressed, before duplicates collapse); kept are the distinct findings first seen then.
    Null without results; never below 0 (findings from OSV matching have no scan result)."""
    since = now - timedelta(days=NOISE_DAYS)
    scans = Scan.objects.filter(
        tenant=tenant, status=ScanStatus.DONE, created_at__gte=since, created_at__lte=now
    ).values_list("counts", flat=True)
    received = sum(result_counts(c)["results"] for c in scans.iterator(chunk_size=2000))
    kept = Finding.objects.filter(tenant=tenant, first_seen__gte=since, first_seen__lte=now).count()
    ratio = None if not received else round(max(0.0, 1 - kept / received), 4)
    return {
        "window_days": NOISE_DAYS,
        "results_received": received,
        "findings_kept": kept,
        "noise_reduction": ratio,
    }
