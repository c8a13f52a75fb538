"""Token scopes never wider than the issuer, tenant expiry policy, rotation with a grace
period, and the same rules through the API, the admin and management commands."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from apps.tenants.models import ApiToken
from apps.tenants.services import api_token_issue, api_token_rotate
from fixops.platform.errors import DomainError
from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_tenant_policy_bounds_and_supplies_expiry(acme):
    acme.token_max_lifetime_days = 30
    acme.save()
    issued = api_token_issue(tenant=acme, name="ci", role="viewer")
    assert 29 <= (issued.token.expires_at - timezone.now()).days <= 30
    with pytest.raises(DomainError) as refused:
        api_token_issue(
            tenant=acme, name="ci", role="viewer", expires_at=timezone.now() + timedelta(days=90)
        )
    assert "at most 30 days" in str(refused.value.message)


def test_new_tenants_get_the_default_policy(acme, settings):
    assert acme.token_max_lifetime_days == settings.FIXOPS_TOKEN_MAX_LIFETIME_DAYS


def test_api_issue_beyond_policy_is_a_clear_400(acme, acme_admin):
    response = acme_admin.post(
        "/api/v1/tokens/",
        {"name": "long", "role": "viewer", "expires_at": "2099-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "token_lifetime_exceeds_policy"


def test_scoped_token_cannot_issue_wider_tokens(acme, issue_token, api_client):
    narrow = api_client(issue_token(acme, role="admin", scopes=["tokens:*", "findings:read"]))
    for body in (
        {"name": "all", "role": "viewer"},  # empty scopes = everything: wider
        {"name": "scans", "role": "viewer", "scopes": ["scans:write"]},
    ):
        response = narrow.post("/api/v1/tokens/", body, format="json")
        assert response.status_code == 403, response.json()
        assert response.json()["error"]["code"] == "token_wider_than_issuer"
    ok = narrow.post(
        "/api/v1/tokens/",
        {"name": "ro", "role": "viewer", "scopes": ["findings:read"]},
        format="json",
    )
    assert ok.status_code == 201


def test_user_cannot_issue_above_own_role(acme):
    analyst = UserFactory(username="ana")
    MembershipFactory(user=analyst, tenant=acme, role="analyst")
    with pytest.raises(DomainError, match="up to your own role"):
        api_token_issue(tenant=acme, name="x", role="admin", created_by=analyst)
    assert api_token_issue(tenant=acme, name="x", role="analyst", created_by=analyst).token


def test_rotation_keeps_the_old_token_for_the_grace_period(acme, api_client, settings):
    old = api_token_issue(tenant=acme, name="ci", role="analyst", scopes=["scans:write"])
    new = api_token_rotate(token=old.token)
    old.token.refresh_from_db()
    assert old.token.replaced_by == new.token
    grace = timedelta(hours=settings.FIXOPS_TOKEN_ROTATION_GRACE_HOURS)
    assert abs(old.token.expires_at - (timezone.now() + grace)) < timedelta(minutes=1)
    assert new.token.scopes == ["scans:write"] and new.token.name == "ci"
    for token in (old, new):
        assert api_client(token.plaintext).get("/api/v1/me/").status_code == 200
    ApiToken.objects.filter(pk=old.token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert api_client(old.plaintext).get("/api/v1/me/").status_code == 401
    assert api_client(new.plaintext).get("/api/v1/me/").status_code == 200
    with pytest.raises(DomainError, match="Only a live token"):
        api_token_rotate(token=ApiToken.objects.get(pk=old.token.pk))


def test_rotate_through_the_api(acme, acme_admin, issue_token, api_client):
    plaintext = issue_token(acme, name="gitlab", role="viewer")
    prefix = plaintext.split("_")[1]
    response = acme_admin.post(f"/api/v1/tokens/{prefix}/rotate/")
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "gitlab" and body["token"].startswith("fxo_")
    listed = {t["prefix"]: t for t in acme_admin.get("/api/v1/tokens/").json()["results"]}
    assert listed[prefix]["replaced_by"] == body["prefix"]
    assert "last_used_at" in listed[prefix] and "scopes" in listed[prefix]


def test_commands_enforce_the_actor_role(acme):
    viewer = UserFactory(username="vic")
    MembershipFactory(user=viewer, tenant=acme, role="viewer")
    boss = UserFactory(username="boss")
    MembershipFactory(user=boss, tenant=acme, role="admin")
    args = ["issue_token", "--tenant", "acme", "--name", "x", "--role", "viewer"]
    with pytest.raises(CommandError, match="needs the admin role"):
        call_command(*args, "--actor", "vic", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="no active user"):
        call_command(*args, "--actor", "ghost", stdout=StringIO(), stderr=StringIO())
    out = StringIO()
    call_command(*args, "--actor", "boss", stdout=out, stderr=StringIO())
    token = ApiToken.objects.get(prefix=out.getvalue().strip().split("_")[1])
    assert token.created_by == boss
    with pytest.raises(CommandError, match="needs the admin role"):
        call_command("revoke_token", token.prefix, "--actor", "vic", stdout=StringIO())
    with pytest.raises(CommandError, match="at most"):
        call_command(*args, "--expires-days", "9999", stdout=StringIO(), stderr=StringIO())


def test_admin_rotation_and_policy(acme):
    admin_user = UserFactory(username="tess", is_staff=True)
    MembershipFactory(user=admin_user, tenant=acme, role="admin")
    client = Client()
    client.force_login(admin_user)
    issued = api_token_issue(tenant=acme, name="old", role="viewer")
    page = client.post(
        "/admin/tenants/apitoken/",
        {"action": "rotate_selected", "_selected_action": [issued.token.pk]},
        follow=True,
    ).content.decode()
    assert re.search(r"fxo_[0-9a-f]{12}_[A-Za-z0-9_-]+", page)
    assert ApiToken.objects.get(pk=issued.token.pk).replaced_by is not None
    too_long = client.post(
        "/admin/tenants/apitoken/add/",
        {
            "tenant": acme.pk,
            "name": "forever",
            "role": "viewer",
            "scopes_text": "",
            "expires_at_0": "2099-01-01",
            "expires_at_1": "00:00:00",
        },
    )
    assert too_long.status_code == 200 and "at most" in too_long.content.decode()
    assert not ApiToken.objects.filter(name="forever").exists()
