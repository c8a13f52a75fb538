"""The triage list at scale (one tenant, BENCH_TRIAGE_FINDINGS findings, 100,000 by default;
set 1000000 for the issue's figure): the admin changelist rendered through the test client,
p95 over 20 renders, for the default page (active findings by risk) and the filters the
dashboard links to. Baseline in the same run: the selector's first page alone (the query
the page cannot do without), so the figure shows what the admin adds. Printed, not asserted."""

from __future__ import annotations

import os
import random
import statistics
import time

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from apps.connectors.models import ExternalLink, Integration
from apps.findings.models import Finding, Occurrence
from apps.findings.selectors import finding_list
from tests.bench.figures import figure
from tests.findings.factories import ApplicationFactory
from tests.tenants.factories import MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
N = int(os.environ.get("BENCH_TRIAGE_FINDINGS", "100000"))
STATUSES = ["open"] * 6 + ["triaged", "in_progress", "fixed", "verified", "false_positive"]
SEVERITIES = ["critical"] * 5 + ["high"] * 20 + ["medium"] * 40 + ["low"] * 30 + ["info"] * 5
PAGES = {
    "default": "",
    "kev_overdue": "?kev=1&sla=overdue",
    "tool": "?tool=gitleaks",
    "has_ticket": "?has_ticket=1",
    "owner_none_critical": "?owner=none&severity=critical",
}


def _p95(fn, runs: int = 20) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.quantiles(times, n=20)[-1]


def _seed(tenant, apps) -> None:
    rng = random.Random(11)
    now = timezone.now()
    batch = 20_000
    for start in range(0, N, batch):
        rows = [
            Finding(
                tenant=tenant,
                application=apps[i % len(apps)],
                dedup_key=f"{i:064d}",
                dedup_strategy="fallback",
                kind="sca",
                status=rng.choice(STATUSES),
                severity=rng.choice(SEVERITIES),
                tool="trivy",
                rule_id=f"rule-{i % 300}",
                title=f"finding {i} " + "x" * rng.randint(10, 200),
                kev=rng.random() < 0.01,
                epss=rng.random() ** 4,
                ssvc=rng.choice(["", "Track", "Attend", "Act"]),
                risk_score=round(rng.random() * 100, 1),
                first_seen=now - timezone.timedelta(days=rng.randint(0, 400)),
                due_at=now + timezone.timedelta(days=rng.randint(-60, 200)),
            )
            for i in range(start, min(N, start + batch))
        ]
        Finding.objects.bulk_create(rows, batch_size=5000)
        Occurrence.objects.bulk_create(
            (
                Occurrence(
                    tenant=tenant,
                    application_id=f.application_id,
                    finding=f,
                    tool="gitleaks" if f.pk % 50 == 0 else "trivy",
                    branch="main",
                    rule_id=f.rule_id,
                    path=f"src/{f.pk % 900}.py",
                )
                for f in rows
            ),
            batch_size=5000,
        )
    integration = Integration.objects.create(tenant=tenant, kind="jira", name="jira")
    ticketed = Finding.objects.filter(tenant=tenant).values_list("pk", flat=True)[: N // 100]
    ExternalLink.objects.bulk_create(
        ExternalLink(
            tenant=tenant,
            integration=integration,
            reference=f"fixops-f-{pk}",
            remote_id=str(pk),
            remote_key=f"SEC-{pk}",
            remote_url=f"https://jira.example/browse/SEC-{pk}",
            finding_id=pk,
        )
        for pk in ticketed
    )
    with connection.cursor() as cursor:
        for table in ("findings_finding", "findings_occurrence", "connectors_externallink"):
            cursor.execute(f"ANALYZE {table}")


def test_bench_triage():
    tenant = TenantFactory(slug="triage-bench")
    apps = [ApplicationFactory(tenant=tenant, name=f"app-{n}") for n in range(40)]
    _seed(tenant, apps)
    user = UserFactory(username="bench-analyst", is_staff=True)
    MembershipFactory(user=user, tenant=tenant, role="analyst")
    client = Client()
    client.force_login(user)
    baseline = _p95(
        lambda: list(
            finding_list(tenant=tenant, filters={"status": ["open", "triaged"]}).order_by(
                "-risk_score", "-id"
            )[:50]
        )
    )
    figures = {}
    for name, query in PAGES.items():
        response = client.get("/admin/findings/finding/" + query)
        assert response.status_code == 200, (name, response.status_code)
        figures[name] = _p95(lambda q=query: client.get("/admin/findings/finding/" + q))
    shown = ", ".join(f"{name} {value * 1000:.0f} ms" for name, value in figures.items())
    print(  # noqa: T201
        f"\nTriage list, {N} findings: p95 of 20 renders: {shown}; "
        f"baseline (selector first page alone) {baseline * 1000:.1f} ms"
    )
    for name, value in figures.items():
        figure(f"triage_list.{name}_p95_ms", value * 1000, "ms", better="lower")
    figure("triage_list.baseline_p95_ms", baseline * 1000, "ms", better="lower")
