"""The admin is tenant-aware: staff see only their tenants' rows; superusers see all."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from apps.tenants.models import ApiToken
from tests.findings.factories import ApplicationFactory
from tests.tenants.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_alice(alice):
    alice.is_staff = True
    alice.save()
    alice.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["findings", "tenants"])
    )
    client = Client()
    client.force_login(alice)
    return client


def test_staff_sees_only_own_tenant_rows(staff_alice, acme, globex):
    ApplicationFactory(tenant=acme, name="acme-app")
    ApplicationFactory(tenant=globex, name="globex-app")
    page = staff_alice.get("/admin/findings/application/").content.decode()
    assert "acme-app" in page and "globex-app" not in page


def test_staff_cannot_open_another_tenants_row(staff_alice, globex):
    app = ApplicationFactory(tenant=globex, name="globex-app")
    response = staff_alice.get(f"/admin/findings/application/{app.pk}/change/")
    assert response.status_code == 302  # Django admin redirects "does not exist" to the index


def test_superuser_sees_everything(acme, globex):
    ApplicationFactory(tenant=acme, name="acme-app")
    ApplicationFactory(tenant=globex, name="globex-app")
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(root)
    page = client.get("/admin/findings/application/").content.decode()
    assert "acme-app" in page and "globex-app" in page


def test_issuing_a_token_in_the_admin_shows_it_once(staff_alice, acme, api_client):
    response = staff_alice.post(
        "/admin/tenants/apitoken/add/",
        {"tenant": acme.pk, "name": "from-admin", "role": "viewer", "scopes_text": ""},
        follow=True,
    )
    page = response.content.decode()
    token = re.search(r"fxo_[0-9a-f]{12}_[A-Za-z0-9_-]+", page).group(0)
    row = ApiToken.objects.get(name="from-admin")
    assert row.tenant == acme and row.prefix == token.split("_")[1]
    assert api_client(token).get("/api/v1/me/").json()["role"] == "viewer"
    detail = staff_alice.get(f"/admin/tenants/apitoken/{row.pk}/change/").content.decode()
    assert token not in detail


def test_staff_cannot_issue_tokens_for_a_foreign_tenant(staff_alice, globex):
    response = staff_alice.post(
        "/admin/tenants/apitoken/add/",
        {"tenant": globex.pk, "name": "sneaky", "role": "admin", "scopes_text": ""},
    )
    assert response.status_code == 200  # the form re-renders with an error
    assert "Select a valid choice" in response.content.decode()
    assert not ApiToken.objects.filter(name="sneaky").exists()


def test_revoke_action(staff_alice, acme, issue_token, api_client):
    token = issue_token(acme, name="old")
    row = ApiToken.objects.get(name="old")
    staff_alice.post(
        "/admin/tenants/apitoken/",
        {"action": "revoke_selected", "_selected_action": [row.pk]},
    )
    assert api_client(token).get("/api/v1/me/").status_code == 401


def test_finding_changelist_and_bulk_triage(staff_alice, acme, globex):
    from apps.findings.models import Finding
    from tests.findings.factories import FindingFactory

    mine = FindingFactory(tenant=acme, title="acme-finding", status="open")
    theirs = FindingFactory(tenant=globex, title="globex-finding", status="open")
    page = staff_alice.get("/admin/findings/finding/").content.decode()
    assert "acme-finding" in page and "globex-finding" not in page
    staff_alice.post(
        "/admin/findings/finding/",
        {"action": "mark_triaged", "_selected_action": [mine.pk, theirs.pk]},
    )
    assert Finding.objects.get(pk=mine.pk).status == "triaged"
    assert Finding.objects.get(pk=theirs.pk).status == "open"  # not in alice's queryset
    detail = staff_alice.get(f"/admin/findings/finding/{mine.pk}/change/").content.decode()
    assert "admin bulk action" in detail
