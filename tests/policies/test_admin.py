"""Admin screens: a policy edit that does not compile shows the line and stores nothing; the
acceptance queue enforces separation of duties like the API does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from apps.policies.models import AcceptanceStatus, Policy, PolicyVersion, RiskAcceptance
from tests.findings.factories import ApplicationFactory, FindingFactory
from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
HEADER = "package fixops.gate\n\nimport rego.v1\n\n"


def _staff(tenant, name, role):
    user = UserFactory(username=name, is_staff=True)
    MembershipFactory(user=user, tenant=tenant, role=role)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="policies"))
    client = Client()
    client.force_login(user)
    return user, client


def _form(tenant, source, name="edited"):
    return {
        "tenant": tenant.pk,
        "name": name,
        "description": "",
        "source": source,
        "parameters": "{}",
        "note": "",
        "activate": "on",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
    }


def test_policy_edit_validates_and_versions(acme):
    _, client = _staff(acme, "grace", "approver")
    bad = client.post(
        "/admin/policies/policy/add/", _form(acme, HEADER + "deny contains x if {\n x := ==\n}\n")
    )
    assert bad.status_code == 200
    assert "line 6" in bad.content.decode()
    assert not Policy.objects.filter(name="edited").exists()

    good = client.post(
        "/admin/policies/policy/add/",
        _form(acme, HEADER + "deny := set()\nreview := set()\nwarn := set()\n"),
    )
    assert good.status_code == 302, good.content.decode()[:2000]
    policy = Policy.objects.get(name="edited")
    assert policy.active_version.number == 1
    changed = client.post(
        f"/admin/policies/policy/{policy.pk}/change/",
        _form(acme, HEADER + 'deny := set()\nreview := set()\nwarn contains "w" if { true }\n'),
    )
    assert changed.status_code == 302
    policy.refresh_from_db()
    assert policy.active_version.number == 2
    assert PolicyVersion.objects.filter(policy=policy).count() == 2


def test_analyst_cannot_edit_policies(acme):
    _, client = _staff(acme, "ana", "analyst")
    response = client.post(
        "/admin/policies/policy/add/",
        _form(acme, HEADER + "deny := set()\nreview := set()\nwarn := set()\n"),
    )
    assert response.status_code == 403


def test_acceptance_queue_respects_separation_of_duties(acme):
    grace, grace_client = _staff(acme, "grace", "approver")
    _, gus_client = _staff(acme, "gus", "approver")
    app = ApplicationFactory(tenant=acme)
    finding = FindingFactory(tenant=acme, application=app)
    acceptance = RiskAcceptance.objects.create(
        tenant=acme,
        scope="finding",
        finding=finding,
        application=app,
        justification="j",
        expires_at=timezone.now() + timedelta(days=3),
        requested_by=grace,
        requested_label="user:grace",
    )
    queue = grace_client.get("/admin/policies/riskacceptance/?status__exact=requested")
    assert f"#{finding.pk}" in queue.content.decode()
    data = {"action": "approve", "_selected_action": [acceptance.pk]}
    own = grace_client.post("/admin/policies/riskacceptance/", data, follow=True)
    assert "Separation of duties" in own.content.decode()
    acceptance.refresh_from_db()
    assert acceptance.status == AcceptanceStatus.REQUESTED
    gus_client.post("/admin/policies/riskacceptance/", data, follow=True)
    acceptance.refresh_from_db()
    finding.refresh_from_db()
    assert (acceptance.status, finding.status) == ("approved", "risk_accepted")
