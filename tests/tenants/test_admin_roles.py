"""The admin enforces the same roles as the API: per-tenant querysets, permissions on each
row, actions that need a role and only touch rows where the user has it, read-only fields."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.findings.models import Finding
from apps.tenants.models import ApiToken, Membership
from apps.tenants.services import api_token_issue
from tests.findings.factories import ApplicationFactory, FindingFactory
from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def staff(username: str, **roles):
    from apps.tenants.models import Tenant

    user = UserFactory(username=username, is_staff=True)
    for slug, role in roles.items():
        MembershipFactory(user=user, tenant=Tenant.objects.get(slug=slug), role=role)
    client = Client()
    client.force_login(user)
    return client


def test_viewer_sees_but_cannot_change_or_act(acme, globex):
    app = ApplicationFactory(tenant=acme, name="acme-app")
    finding = FindingFactory(tenant=acme, application=app, title="acme-finding", status="open")
    FindingFactory(tenant=globex, title="globex-finding")
    viewer = staff("vera", acme="viewer")
    listing = viewer.get("/admin/findings/finding/").content.decode()
    assert "acme-finding" in listing and "globex-finding" not in listing
    assert "mark_triaged" not in listing  # no triage actions for viewers
    detail = viewer.get(f"/admin/findings/application/{app.pk}/change/")
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    viewer.post(
        "/admin/findings/finding/", {"action": "mark_triaged", "_selected_action": [finding.pk]}
    )
    assert Finding.objects.get(pk=finding.pk).status == "open"
    assert viewer.get("/admin/tenants/apitoken/").status_code == 403
    assert (
        viewer.post(f"/admin/findings/application/{app.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )


def test_actions_only_touch_tenants_where_the_role_allows(acme, globex):
    mine = FindingFactory(tenant=acme, title="a", status="open")
    viewer_side = FindingFactory(tenant=globex, title="g", status="open")
    mixed = staff("max", acme="analyst", globex="viewer")
    # Staff act in one tenant at a time (the first by slug until they switch).
    mixed.post(
        "/admin/findings/finding/",
        {"action": "mark_triaged", "_selected_action": [mine.pk, viewer_side.pk]},
    )
    assert Finding.objects.get(pk=mine.pk).status == "triaged"
    assert Finding.objects.get(pk=viewer_side.pk).status == "open"
    mixed.post("/accounts/tenant/", {"tenant": "globex", "next": "/admin/"})
    listing = mixed.get("/admin/findings/finding/").content.decode()
    assert "mark_triaged" not in listing  # a viewer in globex
    mixed.post(
        "/admin/findings/finding/",
        {"action": "mark_triaged", "_selected_action": [viewer_side.pk]},
    )
    assert Finding.objects.get(pk=viewer_side.pk).status == "open"


def test_only_admins_manage_tokens_and_members(acme):
    analyst = staff("andy", acme="analyst")
    assert analyst.get("/admin/tenants/apitoken/").status_code == 403
    assert analyst.get("/admin/tenants/membership/add/").status_code == 403
    boss = staff("bea", acme="admin")
    token = api_token_issue(tenant=acme, name="ci", role="viewer").token
    assert boss.get("/admin/tenants/apitoken/").status_code == 200
    boss.post(
        "/admin/tenants/apitoken/", {"action": "revoke_selected", "_selected_action": [token.pk]}
    )
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None


def test_tenant_admin_edits_policy_not_identity(acme):
    boss = staff("bob2", acme="admin")
    page = boss.get(f"/admin/tenants/tenant/{acme.pk}/change/").content.decode()
    assert 'name="token_max_lifetime_days"' in page and 'name="slug"' not in page
    assert (
        staff("val", acme="viewer").get(f"/admin/tenants/tenant/{acme.pk}/change/").status_code
        == 200
    )


def test_staff_without_membership_sees_nothing(acme):
    ApplicationFactory(tenant=acme, name="acme-app")
    nobody = staff("nina")
    assert nobody.get("/admin/findings/application/").status_code == 403
    index = nobody.get("/admin/").content.decode()
    assert "Applications" not in index


def test_sso_membership_admin_shows_who_manages_it(acme):
    user = UserFactory(username="sso-user")
    Membership.objects.create(user=user, tenant=acme, role="viewer", managed_by="oidc:corp")
    boss = staff("ada", acme="admin")
    page = boss.get("/admin/tenants/membership/").content.decode()
    assert "oidc:corp" in page
