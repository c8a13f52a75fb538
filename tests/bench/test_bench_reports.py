"""Reports at scale (one tenant, BENCH_REPORT_FINDINGS findings over 20 applications, 100,000
by default, with acceptances and decisions): the report document of one application and of
the tenant, and each format, beside a baseline read in the same run, an application's SLA
compliance (`application_sla`, one aggregate). Documents: p95 of 10 runs; formats: median of
3 (after one warm-up each). Figures are printed, not asserted."""

from __future__ import annotations

import os
import random
import statistics
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.findings.models import Finding
from apps.findings.selectors import application_sla
from apps.policies.models import Decision, RiskAcceptance
from apps.workspace.reports import formats
from apps.workspace.reports.document import report_application, report_tenant
from tests.bench.figures import figure
from tests.evidence.factories import policy_version
from tests.findings.factories import ApplicationFactory
from tests.tenants.factories import TenantFactory

pytestmark = pytest.mark.django_db(transaction=True)
N = int(os.environ.get("BENCH_REPORT_FINDINGS", "100000"))
RUNS = 10
SEVERITIES = ["critical"] * 5 + ["high"] * 20 + ["medium"] * 40 + ["low"] * 30 + ["info"] * 5
STATUSES = ["open"] * 6 + ["triaged", "in_progress", "fixed", "verified", "risk_accepted"]


def _times(fn, runs: int) -> list[float]:
    fn()  # warm: templates compiled, fonts loaded, plans cached
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _p95(fn, runs: int = RUNS) -> float:
    return statistics.quantiles(_times(fn, runs), n=20)[-1]


def _median(fn, runs: int = 3) -> float:
    return statistics.median(_times(fn, runs))


def _seed(tenant):
    rng = random.Random(11)
    now = timezone.now()
    apps = [ApplicationFactory(tenant=tenant, name=f"app-{i:02d}") for i in range(20)]
    Finding.objects.bulk_create(
        (
            Finding(
                tenant=tenant,
                application=apps[i % 20],
                dedup_key=f"{i:064d}",
                dedup_strategy="fallback",
                kind="sca",
                status=rng.choice(STATUSES),
                severity=rng.choice(SEVERITIES),
                tool="trivy",
                rule_id=f"rule-{i % 300}",
                title=f"finding {i}",
                vuln_id=f"CVE-2026-{i % 5000}",
                kev=rng.random() < 0.01,
                ssvc=rng.choice(["", "", "Track", "Attend", "Act"]),
                epss=rng.random(),
                risk_score=rng.random() * 100 if rng.random() < 0.9 else None,
                due_at=now + timedelta(days=rng.randint(-60, 120)),
            )
            for i in range(N)
        ),
        batch_size=5000,
    )
    RiskAcceptance.objects.bulk_create(
        RiskAcceptance(
            tenant=tenant,
            scope="vulnerability_app",
            application=apps[i % 20],
            vuln_id=f"CVE-2026-{i}",
            justification="compensating control " * 10,
            status=rng.choice(["approved", "requested", "expired", "revoked"]),
            expires_at=now + timedelta(days=rng.randint(-30, 90)),
            requested_label="user:bench",
        )
        for i in range(500)
    )
    version = policy_version(tenant)
    Decision.objects.bulk_create(
        Decision(
            tenant=tenant,
            application=apps[i % 20],
            outcome=rng.choice(["ALLOW", "NEEDS_REVIEW", "BLOCK"]),
            confidence=0.9,
            policy_version=version,
            engine="regopy",
            input={},
            input_digest="0" * 64,
            created_at=now - timedelta(hours=i),
        )
        for i in range(2000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE findings_finding")
    return apps[0]


def test_bench_reports():
    tenant = TenantFactory(slug="report-bench")
    app = _seed(tenant)
    baseline = _p95(lambda: application_sla(tenant=tenant, application=app))
    app_doc = _p95(lambda: report_application(tenant=tenant, application=app))
    tenant_doc = _p95(lambda: report_tenant(tenant=tenant))
    document = report_tenant(tenant=tenant)
    html = _median(lambda: formats.to_html(document))
    csv_time = _median(lambda: formats.to_csv(document))
    pdf_time = _median(lambda: formats.to_pdf(document))
    pages = formats.to_pdf(document)
    print(  # noqa: T201
        f"\nReports, {N} findings in 20 applications: application document p95 "
        f"{app_doc * 1000:.1f} ms, tenant document p95 {tenant_doc * 1000:.1f} ms; "
        f"baseline application_sla p95 {baseline * 1000:.1f} ms; tenant report (median) as "
        f"HTML {html * 1000:.1f} ms, CSV {csv_time * 1000:.1f} ms, PDF {pdf_time:.2f} s "
        f"({len(pages) // 1024} KiB)"
    )
    figure("report_application_doc_p95_ms", app_doc * 1000, "ms", better="lower")
    figure("report_tenant_doc_p95_ms", tenant_doc * 1000, "ms", better="lower")
    figure("report_baseline_sla_p95_ms", baseline * 1000, "ms", better="lower")
    figure("report_tenant_pdf_s", pdf_time, "s", better="lower")
    assert pages.startswith(b"%PDF")
