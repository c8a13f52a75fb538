"""SLA at scale (one tenant, BENCH_SLA_FINDINGS findings, 100,000 by default): a policy change
recomputes every due_at in one UPDATE; the breach task announces the overdue ones in batches
of 1,000 and, run again, announces nothing; the `?sla=overdue` page and an application's
compliance use the (tenant, due_at) index. Figures are printed, not asserted (timings)."""

from __future__ import annotations

import os
import random
import statistics
import time

import pytest
from django.db import connection
from django.utils import timezone

from apps.findings import sla
from apps.findings.models import Finding
from apps.findings.selectors import application_sla, finding_list
from tests.bench.figures import figure
from tests.findings.factories import ApplicationFactory
from tests.tenants.factories import TenantFactory

pytestmark = pytest.mark.django_db(transaction=True)
N = int(os.environ.get("BENCH_SLA_FINDINGS", "100000"))
SEVERITIES = ["critical"] * 5 + ["high"] * 20 + ["medium"] * 40 + ["low"] * 30 + ["info"] * 5


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def test_bench_sla():
    tenant = TenantFactory(slug="sla-bench")
    app = ApplicationFactory(tenant=tenant, name="big")
    rng = random.Random(7)
    now = timezone.now()
    Finding.objects.bulk_create(
        (
            Finding(
                tenant=tenant,
                application=app,
                dedup_key=f"{i:064d}",
                dedup_strategy="fallback",
                kind="sca",
                severity=rng.choice(SEVERITIES),
                tool="trivy",
                rule_id=f"rule-{i % 300}",
                title=f"finding {i}",
                kev=rng.random() < 0.01,
                ssvc=rng.choice(["", "", "", "Track", "Attend", "Act"]),
                first_seen=now - timezone.timedelta(days=rng.randint(0, 400)),
            )
            for i in range(N)
        ),
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE findings_finding")
    update = _seconds(
        lambda: sla.sla_policy_update(
            tenant=tenant, actor="bench", kev_days=14, ssvc_days={"Act": 3, "Attend": 20}
        )
    )
    announced = []
    first = _seconds(lambda: announced.append(sla.sla_breaches_announce()))
    again = _seconds(lambda: announced.append(sla.sla_breaches_announce()))
    pages, compliance = [], []
    for _ in range(20):
        pages.append(
            _seconds(
                lambda: list(
                    finding_list(tenant=tenant, filters={"sla": ["overdue"]}).order_by(
                        "due_at", "id"
                    )[:50]
                )
            )
        )
        compliance.append(_seconds(lambda: application_sla(tenant=tenant, application=app)))
    p95_page = statistics.quantiles(pages, n=20)[-1]
    p95_compliance = statistics.quantiles(compliance, n=20)[-1]
    print(  # noqa: T201
        f"\nSLA, {N} findings: policy update (recompute all due_at) {update:.2f} s; "
        f"breach task {first:.2f} s announcing {announced[0]}, again {again:.3f} s "
        f"announcing {announced[1]}; ?sla=overdue first page p95 {p95_page * 1000:.1f} ms; "
        f"application compliance p95 {p95_compliance * 1000:.1f} ms"
    )
    figure("sla_policy_update_s", update, "s", better="lower")
    figure("sla_breach_task_s", first, "s", better="lower")
    figure("sla_overdue_page_p95_ms", p95_page * 1000, "ms", better="lower")
    figure("sla_compliance_p95_ms", p95_compliance * 1000, "ms", better="lower")
    assert announced[1] == 0
