"""`manage.py generate_dataset` at CI size (10,000 findings): the rows it promises, the app's
invariants on them, and the pages and endpoints that read them."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, F
from django.test import Client

from apps.connectors.models import ExternalLink
from apps.findings import sla
from apps.findings.counts import result_counts
from apps.findings.models import Application, Finding, FindingEvent, Occurrence, Scan, Stream
from apps.policies.models import Decision, RiskAcceptance
from apps.tenants.models import Membership, Team, Tenant
from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

SMALL = ["--tenants", "3", "--applications", "30", "--other-findings", "200", "--seed", "7"]


def _generate(*args: str) -> str:
    out = StringIO()
    call_command("generate_dataset", *SMALL, *args, stdout=out)
    return out.getvalue()


def _scalar(sql: str, params=()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def test_generate_dataset_ci_size(issue_token, api_client):
    text = _generate("--findings", "10000")
    assert "dataset ready" in text and "copy finding" in text
    big = Tenant.objects.get(slug="bench-1m")
    assert set(Tenant.objects.values_list("slug", flat=True)) >= {"bench-001", "bench-002"}
    findings = Finding.objects.filter(tenant=big)
    assert findings.count() == 10_000
    assert Finding.objects.filter(tenant__slug="bench-001").count() == 200
    assert Application.objects.filter(tenant=big).count() == 3  # a tenth of 30
    assert Occurrence.objects.filter(tenant=big).count() >= 10_000
    assert Stream.objects.filter(tenant=big).count() >= 3
    assert FindingEvent.objects.filter(tenant=big).count() > 3_000
    assert Decision.objects.filter(tenant=big).count() >= 6
    assert ExternalLink.objects.filter(tenant=big, finding__isnull=False).count() > 100
    assert (
        RiskAcceptance.objects.filter(tenant=big).count()
        == findings.filter(status="risk_accepted").count()
    )
    assert Membership.objects.filter(tenant=big).count() == 40
    assert Team.objects.filter(tenant=big).count() == 6

    # A realistic mix: most findings need work, a fair share fixed, some accepted/dismissed.
    by_status = dict(findings.values_list("status").annotate(n=Count("id")))
    active = sum(by_status.get(s, 0) for s in ("open", "triaged", "in_progress", "reopened"))
    assert 0.45 < active / 10_000 < 0.7
    assert by_status["verified"] + by_status["fixed"] > 1500
    assert by_status["risk_accepted"] > 200 and by_status["false_positive"] > 400
    assert findings.filter(kev=True).count() > 0
    assert set(findings.exclude(ssvc="").values_list("ssvc", flat=True)) <= set(sla.SSVC_DECISIONS)
    assert findings.filter(kind="sca", vuln_id__startswith="CVE-").exists()
    assert not findings.filter(epss__gt=1).exists() and not findings.filter(epss__lt=0).exists()
    assert findings.filter(owner_user__isnull=False).exists()
    assert findings.filter(owner_team__isnull=False).exists()

    # Invariants: the tenant of every row is its parent's; no dangling unchecked reference.
    for child, parent, fk in (
        ("findings_finding", "findings_application", "application_id"),
        ("findings_occurrence", "findings_finding", "finding_id"),
        ("findings_findingevent", "findings_finding", "finding_id"),
        ("findings_scan", "findings_application", "application_id"),
        ("policies_decision", "findings_application", "application_id"),
    ):
        assert not _scalar(
            f"SELECT count(*) FROM {child} c LEFT JOIN {parent} p ON p.id = c.{fk} "  # noqa: S608
            "WHERE p.id IS NULL OR p.tenant_id <> c.tenant_id"
        ), f"{child}.{fk}"
    for column in ("first_scan_id", "last_scan_id", "closed_by_scan_id"):
        assert not _scalar(
            f"SELECT count(*) FROM findings_finding f WHERE f.{column} IS NOT NULL AND NOT "  # noqa: S608
            f"EXISTS (SELECT 1 FROM findings_scan s WHERE s.id = f.{column} "
            "AND s.application_id = f.application_id)"
        ), column
    assert not _scalar(
        "SELECT count(*) FROM findings_finding f WHERE NOT EXISTS "
        "(SELECT 1 FROM findings_occurrence o WHERE o.finding_id = f.id)"
    )
    assert not findings.filter(status__in=["fixed", "verified"], closed_at__isnull=True).exists()
    assert not findings.filter(closed_at__lt=F("first_seen")).exists()
    assert not findings.filter(last_seen__lt=F("first_seen")).exists()
    assert not _scalar(
        "SELECT count(*) FROM findings_findingevent e JOIN findings_finding f "
        "ON f.id = e.finding_id WHERE e.created_at < f.first_seen"
    )
    # due_at is what the SLA module computes for the tenant's policy (KEV/SSVC overrides on).
    policy = sla.policy_for(big.pk)
    assert policy.kev_days == 14
    expected = findings.annotate(expected=sla.due_expression(policy))
    assert not expected.exclude(due_at=F("expected")).exists()
    # Scans received more results than they kept: noise reduction has something to show.
    counts = [
        result_counts(c) for c in Scan.objects.filter(tenant=big).values_list("counts", flat=True)
    ]
    assert sum(c["results"] for c in counts) > sum(c["findings"] for c in counts) > 0

    # The sequences moved past the loaded ids: the application's own inserts still work.
    app = Application.objects.filter(tenant=big).first()
    assert (
        Scan.objects.create(tenant=big, application=app, sha256="0" * 64, size_bytes=1).pk
        > (Scan.objects.filter(tenant=big).order_by("-id").values_list("id", flat=True)[1])
    )

    # The API and the admin read it.
    client = api_client(issue_token(big, role="viewer"))
    page = client.get("/api/v1/findings/?severity=critical")
    assert page.status_code == 200 and page.json()["results"]
    first = page.json()["results"][0]["id"]
    assert client.get(f"/api/v1/findings/{first}/").status_code == 200
    assert client.get("/api/v1/scans/").json()["results"]
    assert client.get("/api/v1/decisions/").json()["results"]
    staff = UserFactory(username="bench-1m.staff", is_staff=True)
    MembershipFactory(user=staff, tenant=big, role="analyst")
    admin = Client()
    admin.force_login(staff)
    listing = admin.get("/admin/findings/finding/")
    assert listing.status_code == 200 and b"result_list" in listing.content
    assert admin.get(f"/admin/findings/finding/{first}/change/").status_code == 200

    # --reset replaces the dataset (and the users it made); without it, a second run refuses.
    with pytest.raises(CommandError, match="already exists"):
        _generate("--findings", "100")
    _generate("--findings", "500", "--reset")
    assert Finding.objects.filter(tenant__slug="bench-1m").count() == 500
    assert not Tenant.objects.filter(pk=big.pk).exists()
    assert not Occurrence.objects.filter(tenant_id=big.pk).exists()
