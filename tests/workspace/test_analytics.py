"""The analytics API's numbers, each checked against SQL written here (not the selectors), on
a seeded tenant beside another tenant's rows that must not count."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.workspace.analytics import snapshot
from apps.workspace.services import analytics_refresh
from tests.workspace.seed import seed_tenant

pytestmark = pytest.mark.django_db

ACTIVE = "('open', 'triaged', 'in_progress', 'reopened')"


def sql(query: str, *params):
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def one(query: str, *params):
    return sql(query, *params)[0][0]


@pytest.fixture
def seeded(acme, globex):
    seed_tenant(acme)
    seed_tenant(globex, findings=50, rng_seed=99)
    analytics_refresh()
    return acme


@pytest.fixture
def client(seeded, issue_token, api_client):
    return api_client(issue_token(seeded, role="viewer"))


def as_of(tenant) -> datetime:
    return snapshot.current(tenant).as_of


def test_open_findings_by_severity_ssvc_and_kev(seeded, client):
    body = client.get("/api/v1/analytics/summary/").json()
    t = seeded.pk
    by_sev = dict(
        sql(
            f"SELECT severity, count(*) FROM findings_finding WHERE tenant_id = %s "
            f"AND status IN {ACTIVE} GROUP BY severity",
            t,
        )
    )
    assert body["open"]["by_severity"] == {
        s: by_sev.get(s, 0) for s in ("critical", "high", "medium", "low", "info")
    }
    assert body["open"]["total"] == one(
        f"SELECT count(*) FROM findings_finding WHERE tenant_id = %s AND status IN {ACTIVE}", t
    )
    assert body["open"]["total"] > 0
    by_ssvc = dict(
        sql(
            f"SELECT coalesce(nullif(ssvc, ''), 'none'), count(*) FROM "
            f"findings_finding WHERE tenant_id = %s AND status IN {ACTIVE} "
            f"GROUP BY 1",
            t,
        )
    )
    assert body["ssvc"] == {
        k: by_ssvc.get(k, 0) for k in ("Act", "Attend", "Track*", "Track", "none")
    }
    kev = sql(
        f"SELECT count(*), count(DISTINCT application_id) FROM findings_finding WHERE "
        f"tenant_id = %s AND status IN {ACTIVE} AND kev",
        t,
    )[0]
    assert (body["kev"]["open_findings"], body["kev"]["applications"]) == kev
    assert kev[0] > 0
    overdue_kev = one(
        f"SELECT count(*) FROM findings_finding WHERE tenant_id = %s AND status IN {ACTIVE} "
        f"AND kev AND due_at <= %s AND sla_paused_at IS NULL",
        t,
        as_of(seeded),
    )
    assert body["kev"]["overdue_findings"] == overdue_kev


def test_sla_states_match_due_at(seeded, client):
    body = client.get("/api/v1/analytics/summary/").json()
    now = as_of(seeded)
    soon = now + timedelta(days=3)  # the default due_soon_days
    t = seeded.pk
    overdue = one(
        f"SELECT count(*) FROM findings_finding WHERE tenant_id = %s AND status IN "
        f"{ACTIVE} AND due_at < %s",
        t,
        now,
    )
    due_soon = one(
        f"SELECT count(*) FROM findings_finding WHERE tenant_id = %s AND status IN "
        f"{ACTIVE} AND due_at >= %s AND due_at < %s",
        t,
        now,
        soon,
    )
    on_time = one(
        f"SELECT count(*) FROM findings_finding WHERE tenant_id = %s AND status IN "
        f"{ACTIVE} AND (due_at >= %s OR due_at IS NULL)",
        t,
        soon,
    )
    paused = one(
        "SELECT count(*) FROM findings_finding WHERE tenant_id = %s AND status = 'risk_accepted'", t
    )
    assert body["sla"]["by_state"] == {
        "overdue": overdue,
        "due_soon": due_soon,
        "on_time": on_time,
        "paused": paused,
    }
    assert min(overdue, due_soon, on_time, paused) > 0
    running = overdue + due_soon + on_time
    assert body["sla"]["open"] == running + paused
    assert body["sla"]["on_time_percent"] == round(100 * (running - overdue) / running, 1)


def test_sla_per_application_adds_up_to_the_total(seeded, client):
    body = client.get("/api/v1/analytics/sla/").json()
    now = as_of(seeded)
    rows = sql(
        f"SELECT a.name, count(*) FILTER (WHERE f.status IN {ACTIVE} AND f.due_at < %s),"
        " count(*) FILTER (WHERE f.status = 'risk_accepted'), count(*) FROM "
        "findings_finding f JOIN findings_application a ON a.id = f.application_id "
        "WHERE f.tenant_id = %s AND f.status IN ('open', 'triaged', 'in_progress', "
        "'reopened', 'risk_accepted') GROUP BY a.name ORDER BY a.name",
        now,
        seeded.pk,
    )
    got = [
        (a["name"], a["by_state"]["overdue"], a["by_state"]["paused"], a["open"])
        for a in body["applications"]
    ]
    assert got == [tuple(r) for r in rows]
    assert "acme-quiet" not in {a["name"] for a in body["applications"]}  # nothing open
    for state in ("on_time", "due_soon", "overdue", "paused"):
        assert (
            sum(a["by_state"][state] for a in body["applications"])
            == (body["total"]["by_state"][state])
        )


def test_mttr_by_severity_over_90_days(seeded, client):
    body = client.get("/api/v1/analytics/summary/").json()
    now = as_of(seeded)
    rows = sql(
        "SELECT severity, count(*), avg(extract(epoch FROM closed_at - first_seen)), "
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - "
        "first_seen)) FROM findings_finding WHERE tenant_id = %s AND closed_at >= %s "
        "AND closed_at <= %s GROUP BY severity",
        seeded.pk,
        now - timedelta(days=90),
        now,
    )
    assert rows
    for severity, closed, mean, median in rows:
        entry = body["mttr"]["by_severity"][severity]
        assert entry["closed"] == closed
        assert entry["mean_days"] == round(float(mean) / 86400, 1)
        assert entry["median_days"] == round(float(median) / 86400, 1)
    assert body["mttr"]["all"]["closed"] == sum(r[1] for r in rows)
    assert body["mttr"]["window_days"] == 90


def test_trend_counts_opened_and_closed_per_day(seeded, client):
    now = as_of(seeded)
    body = client.get("/api/v1/analytics/trends/?days=30").json()
    assert body["days"] == 30 and len(body["daily"]) == 30
    today = now.astimezone(UTC).date()
    assert body["daily"][-1]["day"] == today.isoformat()
    first = today - timedelta(days=29)
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    opened = dict(
        sql(
            "SELECT (first_seen AT TIME ZONE 'UTC')::date, count(*) FROM "
            "findings_finding WHERE tenant_id = %s AND first_seen >= %s AND "
            "first_seen <= %s GROUP BY 1",
            seeded.pk,
            start,
            now,
        )
    )
    closed = dict(
        sql(
            "SELECT (closed_at AT TIME ZONE 'UTC')::date, count(*) FROM "
            "findings_finding WHERE tenant_id = %s AND closed_at >= %s AND "
            "closed_at <= %s GROUP BY 1",
            seeded.pk,
            start,
            now,
        )
    )
    for day in body["daily"]:
        d = date.fromisoformat(day["day"])
        assert (day["opened"], day["closed"]) == (opened.get(d, 0), closed.get(d, 0))
    assert body["opened"] == sum(opened.values()) > 0
    summary = client.get("/api/v1/analytics/summary/").json()
    ninety = client.get("/api/v1/analytics/trends/").json()
    assert ninety["days"] == 90
    assert (summary["trend"]["opened"], summary["trend"]["closed"]) == (
        ninety["opened"],
        ninety["closed"],
    )


@pytest.mark.parametrize("days", ["0", "366", "-1", "abc"])
def test_trend_days_are_bounded(client, days):
    response = client.get(f"/api/v1/analytics/trends/?days={days}")
    assert response.status_code == 400
    assert response.json()["error"]["code"]


def test_decisions_by_outcome_per_week(seeded, client):
    body = client.get("/api/v1/analytics/summary/").json()
    now = as_of(seeded)
    today = now.astimezone(UTC).date()
    monday = today - timedelta(days=today.weekday())
    since = datetime.combine(monday - timedelta(weeks=12), datetime.min.time(), tzinfo=UTC)
    counts = dict(
        sql(
            "SELECT outcome, count(*) FROM policies_decision WHERE tenant_id = %s "
            "AND created_at >= %s AND created_at <= %s GROUP BY outcome",
            seeded.pk,
            since,
            now,
        )
    )
    assert body["decisions"]["by_outcome"] == {
        o: counts.get(o, 0) for o in ("ALLOW", "NEEDS_REVIEW", "BLOCK")
    }
    assert body["decisions"]["weeks"] == 13 and len(body["decisions"]["by_week"]) == 13
    this_week = dict(
        sql(
            "SELECT outcome, count(*) FROM policies_decision WHERE tenant_id = %s "
            "AND created_at >= %s AND created_at <= %s GROUP BY outcome",
            seeded.pk,
            datetime.combine(monday, datetime.min.time(), tzinfo=UTC),
            now,
        )
    )
    last = body["decisions"]["by_week"][-1]
    assert last["week"] == monday.isoformat()
    assert {o: last[o] for o in ("ALLOW", "NEEDS_REVIEW", "BLOCK")} == {
        o: this_week.get(o, 0) for o in ("ALLOW", "NEEDS_REVIEW", "BLOCK")
    }


def test_riskiest_applications(seeded, client):
    body = client.get("/api/v1/analytics/summary/").json()
    rows = sql(
        f"SELECT a.id, a.name, count(*), round(coalesce(sum(f.risk_score), 0)::numeric, 2),"
        f" count(*) FILTER (WHERE f.kev) FROM findings_finding f JOIN findings_application"
        f" a ON a.id = f.application_id WHERE f.tenant_id = %s AND f.status IN {ACTIVE} "
        f"GROUP BY a.id, a.name ORDER BY 4 DESC",
        seeded.pk,
    )
    got = [
        (a["application_id"], a["name"], a["open"], a["risk_sum"], a["kev"])
        for a in body["riskiest_applications"]
    ]
    assert got == [(r[0], r[1], r[2], float(r[3]), r[4]) for r in rows]


def test_noise_reduction(seeded, client):
    body = client.get("/api/v1/analytics/summary/").json()
    now = as_of(seeded)
    since = now - timedelta(days=90)
    # counts.results (plus the legacy "skipped" of scans that stored no "lost"), done scans.
    received = one(
        "SELECT sum((counts->>'results')::int + CASE WHEN counts ? 'lost' THEN 0 "
        "ELSE coalesce((counts->>'skipped')::int, 0) END) FROM findings_scan WHERE "
        "tenant_id = %s AND status = 'done' AND created_at >= %s AND created_at <= %s",
        seeded.pk,
        since,
        now,
    )
    kept = one(
        "SELECT count(*) FROM findings_finding WHERE tenant_id = %s AND first_seen >= %s "
        "AND first_seen <= %s",
        seeded.pk,
        since,
        now,
    )
    noise = body["noise"]
    assert (noise["results_received"], noise["findings_kept"]) == (received, kept)
    assert received == 40 + 41 + 42 + 43 + 44 + 34
    assert noise["noise_reduction"] == round(max(0.0, 1 - kept / received), 4)


def test_feed_freshness_is_live_against_the_tenants_limit(seeded, client):
    feeds = {
        f["name"]: f for f in client.get("/api/v1/analytics/summary/").json()["feeds"]["feeds"]
    }
    assert feeds["epss"]["fresh"] and feeds["epss"]["version"] == "2026-12-06"
    assert not feeds["kev"]["fresh"]  # 100 h old, the default limit is 48 h
    assert feeds["osv"]["last_success"] is None and not feeds["osv"]["fresh"]
    assert 99.9 <= feeds["kev"]["age_hours"] <= 100.5


def test_every_result_carries_as_of_and_snapshot_is_shared(seeded, client):
    stamp = as_of(seeded)
    for path in ("summary", "trends", "sla"):
        body = client.get(f"/api/v1/analytics/{path}/").json()
        assert datetime.fromisoformat(body["as_of"].replace("Z", "+00:00")) == stamp


def test_another_tenant_sees_only_its_own_numbers(seeded, globex, issue_token, api_client):
    theirs = api_client(issue_token(globex, role="viewer")).get("/api/v1/analytics/summary/")
    total = one(
        f"SELECT count(*) FROM findings_finding WHERE tenant_id = %s AND status IN {ACTIVE}",
        globex.pk,
    )
    assert theirs.json()["open"]["total"] == total
    names = {
        a["name"]
        for a in api_client(issue_token(globex, role="viewer"))
        .get("/api/v1/analytics/sla/")
        .json()["applications"]
    }
    assert names and all(n.startswith("globex-") for n in names)


def test_scopes(seeded, issue_token, api_client):
    narrow = api_client(issue_token(seeded, role="viewer", scopes=["findings:read"]))
    response = narrow.get("/api/v1/analytics/summary/")
    assert response.status_code == 403
    assert response.json()["error"]["details"]["required"] == {"scope": "analytics:read"}
    reader = api_client(issue_token(seeded, role="viewer", scopes=["analytics:read"]))
    assert reader.get("/api/v1/analytics/sla/").status_code == 200


def test_a_tenant_without_a_snapshot_gets_one_on_first_read(acme, acme_viewer):
    body = acme_viewer.get("/api/v1/analytics/summary/").json()
    assert body["open"]["total"] == 0 and body["noise"]["noise_reduction"] is None
    assert body["sla"]["on_time_percent"] is None


def test_refresh_replaces_the_snapshot(seeded, client):
    before = as_of(seeded)
    analytics_refresh(tenant_id=seeded.pk)
    assert as_of(seeded) > before
    assert timezone.now() >= as_of(seeded)


def test_the_beat_task_refreshes_every_tenant(acme, globex):
    from apps.workspace.models import AnalyticsSnapshot
    from apps.workspace.tasks import analytics_refresh_task
    from fixops.schedules import schedules

    assert analytics_refresh_task() == 2
    assert AnalyticsSnapshot.objects.count() == 2
    assert analytics_refresh_task(tenant_id=acme.pk) == 1
    assert AnalyticsSnapshot.objects.count() == 2  # replaced, not added
    (entry,) = [s for s in schedules() if s.task == "fixops.workspace.analytics_refresh"]
    assert entry.every == 300


def test_an_unknown_scope_is_not_offered():
    from apps.tenants.scopes import SCOPES, validate_scopes

    assert "analytics:read" in SCOPES and "analytics:write" not in SCOPES
    with pytest.raises(ValueError):
        validate_scopes(["analytics:write"])
    assert validate_scopes(["analytics:*"]) == ["analytics:*"]
