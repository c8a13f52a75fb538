"""The dashboard at scale: one tenant with BENCH_DASHBOARD_FINDINGS findings (200,000 by
default; written by one generate_series INSERT, so a million takes a minute, not an hour).

Printed, not asserted (timings): the snapshot refresh (`analytics_refresh`, what each request
would cost without the summary table: the baseline), the analytics selectors p95 and the admin
index render p95 over 20 renders, beside the same render for an empty tenant in the same run.
With -s it also prints EXPLAIN ANALYZE of the refresh's heaviest aggregate and of the request's
one read.
"""

from __future__ import annotations

import os
import statistics
import time

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client

from apps.workspace.selectors import analytics_sla, analytics_summary, analytics_trends
from apps.workspace.services import analytics_refresh
from tests.bench.figures import figure
from tests.evidence.factories import make_decision
from tests.findings.factories import ApplicationFactory
from tests.tenants.factories import MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
N = int(os.environ.get("BENCH_DASHBOARD_FINDINGS", "200000"))
APPS = 200
RENDERS = 20

# Severity, status, SSVC, KEV, EPSS, risk and dates drawn from the row number: realistic
# shares (most findings medium/low, ~40% closed, 1% KEV), first seen over 400 days.
INSERT = """
INSERT INTO findings_finding (
    tenant_id, application_id, dedup_key, dedup_strategy, kind, status, severity, tool,
    rule_id, title, message, vuln_id, aliases, component_purl, component_name,
    component_version, fixed_versions, path, resource, cvss, vex_state, vex_justification,
    first_seen, last_seen, closed_at, reopen_count, risk_explanation, ssvc, kev, epss,
    risk_score, due_at, updated_at)
SELECT %(tenant)s, %(first_app)s + (i %% %(apps)s), lpad(i::text, 64, '0'), 'fallback', 'sca',
    (ARRAY['open','open','open','triaged','in_progress','reopened','risk_accepted','fixed',
           'fixed','verified','false_positive','fixed'])[1 + (i * 7) %% 12],
    (ARRAY['critical','high','high','medium','medium','medium','low','low','low','info'])
        [1 + (i * 13) %% 10],
    'trivy', 'rule-' || (i %% 300), 'finding ' || i, '', 'CVE-2026-' || (i %% 5000), '[]',
    '', '', '', '[]', '', '', '[]', '', '',
    now() - make_interval(days => (i * 37) %% 400, hours => i %% 24),
    now(),
    CASE WHEN (i * 7) %% 12 IN (7, 8, 9, 11)
         THEN now() - make_interval(days => ((i * 37) %% 400) / 3) END,
    0, '{}',
    (ARRAY['', '', '', 'Track', 'Track*', 'Attend', 'Act'])[1 + (i * 11) %% 7],
    i %% 100 = 0, ((i * 31) %% 1000) / 1000.0, ((i * 17) %% 10000) / 100.0,
    now() + make_interval(days => 30 - (i * 37) %% 400 + (i %% 90)),
    now()
FROM generate_series(1, %(n)s) AS i
"""


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def _staff(tenant, name: str) -> Client:
    user = UserFactory(username=name, is_staff=True)
    MembershipFactory(user=user, tenant=tenant, role="viewer")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="findings"))
    client = Client()
    client.force_login(user)
    return client


def _renders(client: Client) -> list[float]:
    # One untimed render first: the process's first request loads URL confs and templates.
    assert client.get("/admin/").status_code == 200
    times = []
    for _ in range(RENDERS):
        start = time.perf_counter()
        response = client.get("/admin/")
        times.append(time.perf_counter() - start)
        assert response.status_code == 200
    return times


def _explain(sql: str, params) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_bench_dashboard():
    tenant = TenantFactory(slug="dash-bench", name="Dashboard bench")
    empty = TenantFactory(slug="dash-empty", name="Empty")
    apps = [ApplicationFactory(tenant=tenant, name=f"app-{i:03d}") for i in range(APPS)]
    assert apps[-1].pk - apps[0].pk == APPS - 1  # one id range, as the INSERT assumes
    generate = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(INSERT, {"tenant": tenant.pk, "first_app": apps[0].pk, "apps": APPS, "n": N})
        cursor.execute("ANALYZE findings_finding")
    generate = time.perf_counter() - generate
    for i in range(30):
        make_decision(
            tenant,
            outcome=("BLOCK", "ALLOW", "NEEDS_REVIEW")[i % 3],
            application=apps[i],
            scans=1,
            findings=0,
            commit=f"{i:040x}",
        )

    refresh = _seconds(lambda: analytics_refresh(tenant_id=tenant.pk))
    analytics_refresh(tenant_id=empty.pk)
    selectors = [
        _seconds(
            lambda: (
                analytics_summary(tenant=tenant),
                analytics_trends(tenant=tenant),
                analytics_sla(tenant=tenant),
            )
        )
        for _ in range(RENDERS)
    ]
    big = _renders(_staff(tenant, "bench-big"))
    small = _renders(_staff(empty, "bench-empty"))

    plan = _explain(
        "SELECT application_id, count(*), sum(risk_score) FROM findings_finding "
        "WHERE tenant_id = %s AND status IN ('open','triaged','in_progress','reopened',"
        "'risk_accepted') GROUP BY application_id",
        [tenant.pk],
    )
    read = _explain("SELECT * FROM workspace_analyticssnapshot WHERE tenant_id = %s", [tenant.pk])
    print(  # noqa: T201
        f"\nDashboard, {N:,} findings in {APPS} applications (generated in {generate:.1f} s):"
        f"\n  snapshot refresh (the per-request cost without the summary table) {refresh:.2f} s"
        f"\n  analytics selectors (summary + trends + sla) p95 "
        f"{_p95(selectors) * 1000:.1f} ms"
        f"\n  admin index p95 over {RENDERS} renders {_p95(big) * 1000:.1f} ms "
        f"(median {statistics.median(big) * 1000:.1f} ms); "
        f"baseline, empty tenant, same run: p95 {_p95(small) * 1000:.1f} ms"
        f"\n  renders (ms): {[round(t * 1000) for t in big]}"
        f"\n  EXPLAIN ANALYZE, refresh's per-application aggregate:\n{plan}"
        f"\n  EXPLAIN ANALYZE, a request's read:\n{read}"
    )
    figure("dashboard_refresh_s", refresh, "s", better="lower")
    figure("dashboard_selectors_p95_ms", _p95(selectors) * 1000, "ms", better="lower")
    figure("dashboard_index_p95_ms", _p95(big) * 1000, "ms", better="lower")
    figure("dashboard_index_empty_p95_ms", _p95(small) * 1000, "ms", better="lower")
