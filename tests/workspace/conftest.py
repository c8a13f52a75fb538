"""Workspace fixtures: signed evidence (tests/evidence), and `seeded`, a tenant with something in
every report section and a neighbour whose rows carry markers that must never appear in acme's
reports (test modules may define their own `seeded`)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.policies.models import RiskAcceptance
from tests.evidence.conftest import evidence_settings, signing_key_file  # noqa: F401
from tests.evidence.factories import make_bundle, make_decision
from tests.findings.factories import ApplicationFactory, FindingFactory

SEVERITIES = ("critical", "high", "medium", "low", "info")
SSVC = ("Act", "Attend", "Track", "")


@pytest.fixture
def seeded(acme, globex):
    """acme: `payments` with 40 findings (open, closed, accepted; KEV, SSVC, due dates
    around now), `other` with 5; acceptances in every state; decisions with evidence.
    globex: the same kinds of rows, named `globex-secret-*`."""
    now = timezone.now()
    payments = ApplicationFactory(tenant=acme, name="payments", criticality="critical")
    other = ApplicationFactory(tenant=acme, name="other")
    statuses = ("open", "triaged", "in_progress", "reopened", "fixed", "risk_accepted")
    for i in range(40):
        FindingFactory(
            tenant=acme,
            application=payments,
            severity=SEVERITIES[i % 5],
            status=statuses[i % 6],
            kev=i % 4 == 0,
            ssvc=SSVC[i % 4],
            vuln_id=f"CVE-2026-{i % 7}",
            risk_score=float(100 - i) if i % 3 else None,
            title=f"payments finding {i}",
            due_at=now + timedelta(days=i - 20),
        )
    for i in range(5):
        FindingFactory(tenant=acme, application=other, severity="critical", title=f"other {i}")
    states = ["approved", "approved", "requested", "expired", "revoked", "rejected"]
    for i, status in enumerate(states):
        RiskAcceptance.objects.create(
            tenant=acme,
            scope="vulnerability_app",
            application=payments,
            vuln_id=f"CVE-2026-{i}",
            justification=f"acme justification {i}",
            status=status,
            expires_at=now + timedelta(days=10 + i),
            requested_label="user:alice",
            reviewed_label="user:bob" if status != "requested" else "",
        )
    # Approved but past expiry: the beat task has not closed it yet; it counts as expired.
    RiskAcceptance.objects.create(
        tenant=acme,
        scope="vulnerability_all",
        vuln_id="CVE-2026-99",
        justification="tenant-wide",
        status="approved",
        expires_at=now - timedelta(hours=1),
        requested_label="user:alice",
        reviewed_label="user:bob",
    )
    for outcome in ("BLOCK", "BLOCK", "ALLOW", "NEEDS_REVIEW"):
        make_bundle(make_decision(acme, application=payments, outcome=outcome, findings=0))
    make_decision(acme, application=other, outcome="ALLOW", findings=0)  # no evidence

    secret_app = ApplicationFactory(tenant=globex, name="globex-secret-app")
    FindingFactory(tenant=globex, application=secret_app, title="globex-secret-finding", kev=True)
    RiskAcceptance.objects.create(
        tenant=globex,
        scope="vulnerability_all",
        vuln_id="CVE-2026-1",
        justification="globex-secret-justification",
        status="approved",
        expires_at=now + timedelta(days=3),
        requested_label="user:globex-secret-user",
    )
    make_bundle(make_decision(globex, application=secret_app, commit="globex-secret-commit"))
    return {"payments": payments, "other": other, "secret_app": secret_app}
