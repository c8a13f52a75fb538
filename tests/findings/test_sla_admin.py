"""The SLA policy in the admin: a tenant admin edits it, every finding's due_at follows in the
same save (through sla_policy_update, audited); bad days are refused on the form."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from apps.findings.models import SlaPolicy
from fixops.platform.models import AuditEvent
from tests.findings.factories import FindingFactory
from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _admin(tenant, role="admin"):
    user = UserFactory(username=f"sla-{role}", is_staff=True)
    MembershipFactory(user=user, tenant=tenant, role=role)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="findings"))
    client = Client()
    client.force_login(user)
    return client


def _form(tenant, days='{"critical": 7, "high": 5}'):
    return {
        "tenant": tenant.pk,
        "days": days,
        "kev_days": "",
        "ssvc_days": '{"Act": 2}',
        "due_soon_days": "3",
        "restart_on_expiry": "on",
    }


def test_admin_edits_the_policy_and_due_at_follows(acme):
    finding = FindingFactory(tenant=acme, severity="high")
    client = _admin(acme)
    bad = client.post("/admin/findings/slapolicy/add/", _form(acme, days='{"high": 0}'))
    assert bad.status_code == 200 and "whole days" in bad.content.decode()
    assert not SlaPolicy.objects.exists()
    good = client.post("/admin/findings/slapolicy/add/", _form(acme))
    assert good.status_code == 302, good.content.decode()[:2000]
    finding.refresh_from_db()
    assert finding.due_at == finding.first_seen + timedelta(days=5)
    assert AuditEvent.objects.filter(action="sla.policy_update", tenant_id=acme.pk).count() == 1


def test_an_analyst_cannot_change_the_policy(acme):
    client = _admin(acme, role="analyst")
    assert client.post("/admin/findings/slapolicy/add/", _form(acme)).status_code == 403


def test_a_findings_scanner_facts_cannot_be_edited_by_hand(acme):
    """Severity feeds due_at through the writer; a hand edit in the admin would skip it."""
    finding = FindingFactory(tenant=acme, severity="low", title="from the scanner")
    client = _admin(acme)
    url = f"/admin/findings/finding/{finding.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="severity"' not in page and 'name="title"' not in page
    client.post(url, {"severity": "critical", "title": "edited"})
    finding.refresh_from_db()
    assert (finding.severity, finding.title) == ("low", "from the scanner")
