"""A tenant with known analytics: findings of every severity, status, SLA state, KEV and SSVC
value, closed ones for MTTR, scans with result counts, decisions over several weeks, feeds.

Rows are written directly (the writer's rules are not under test here): what matters is that
the analytics agree with the independent SQL of the tests.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from apps.findings.models import Finding, Scan
from apps.intel.models import FeedStatus
from apps.policies.models import Decision
from tests.evidence.factories import make_decision
from tests.findings.factories import ApplicationFactory, FindingFactory, ScanFactory

STATUSES = [
    "open",
    "triaged",
    "in_progress",
    "reopened",
    "risk_accepted",
    "fixed",
    "verified",
    "false_positive",
]
SEVERITIES = ["critical", "high", "medium", "low", "info"]
SSVC = ["Act", "Attend", "Track*", "Track", ""]


def seed_tenant(tenant, *, findings: int = 120, rng_seed: int = 15) -> dict:
    """Seed `tenant`; returns its applications."""
    rng = random.Random(rng_seed)
    now = timezone.now()
    apps = [
        ApplicationFactory(tenant=tenant, name=f"{tenant.slug}-{n}")
        for n in ("shop", "api", "batch", "quiet")
    ]
    rows = []
    for i in range(findings):
        app = apps[i % 3]  # "quiet" has none
        status = STATUSES[rng.randrange(len(STATUSES))]
        first_seen = now - timedelta(days=rng.randrange(0, 200), hours=rng.randrange(24))
        finding = FindingFactory.build(
            tenant=tenant, application=app, severity=SEVERITIES[rng.randrange(5)]
        )
        closed = first_seen + timedelta(days=rng.randrange(0, 60), hours=rng.randrange(24))
        due = {
            0: now - timedelta(days=3),
            1: now + timedelta(days=1),
            2: now + timedelta(days=40),
            3: None,
        }[rng.randrange(4)]
        finding.status = status
        finding.first_seen = first_seen
        finding.closed_at = min(closed, now) if status in ("fixed", "verified") else None
        finding.kev = rng.random() < 0.25
        finding.ssvc = SSVC[rng.randrange(5)]
        finding.risk_score = None if rng.random() < 0.1 else round(rng.uniform(0, 100), 2)
        finding.due_at = due  # as set, not what the SLA policy would give
        rows.append(finding)
    Finding.objects.bulk_create(rows)  # one INSERT: the seed runs before most workspace tests
    for i in range(6):
        scan = ScanFactory(tenant=tenant, application=apps[i % 3])
        counts = {"results": 40 + i, "lost": i, "suppressed": 2, "findings": 38 - i}
        if i == 5:  # an old scan that stored "skipped", not "lost"
            counts = {"results": 30, "skipped": 4, "suppressed": 0}
        Scan.objects.filter(pk=scan.pk).update(
            counts=counts, created_at=now - timedelta(days=[1, 5, 20, 60, 89, 10][i])
        )
    old = ScanFactory(tenant=tenant, application=apps[0])
    Scan.objects.filter(pk=old.pk).update(
        counts={"results": 999}, created_at=now - timedelta(days=120)
    )
    failed = ScanFactory(tenant=tenant, application=apps[0])
    Scan.objects.filter(pk=failed.pk).update(counts={"results": 500}, status="failed")
    for i, (outcome, days_ago) in enumerate(
        [
            ("BLOCK", 0),
            ("ALLOW", 1),
            ("ALLOW", 8),
            ("NEEDS_REVIEW", 15),
            ("BLOCK", 30),
            ("ALLOW", 80),
            ("BLOCK", 200),
        ]
    ):
        decision = make_decision(
            tenant,
            outcome=outcome,
            application=apps[i % 3],
            scans=0,
            findings=0,
            commit=f"{i:040x}",
        )
        Decision.objects.filter(pk=decision.pk).update(created_at=now - timedelta(days=days_ago))
    FeedStatus.objects.update_or_create(
        name="epss", defaults={"last_success": now - timedelta(hours=5), "version": "2026-12-06"}
    )
    FeedStatus.objects.update_or_create(
        name="kev", defaults={"last_success": now - timedelta(hours=100), "version": "2026.12.01"}
    )
    return {"applications": apps}
