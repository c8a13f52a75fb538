"""Lifetime is bounded by the issuer like role and scopes: a token-issued token expires no
later than its issuer, sessions and never-expiring tokens are bounded by the tenant's maximum,
rotation keeps the old expiry (within those bounds), and an edit only shortens a life."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.tenants.models import ApiToken
from apps.tenants.services import api_token_issue
from fixops.platform.errors import DomainError
from fixops.platform.models import AuditEvent
from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _expiry(body) -> timezone.datetime:
    return timezone.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))


@pytest.fixture
def hour_token(acme, api_client):
    """An admin token that expires in one hour (the issue's example)."""
    issued = api_token_issue(
        tenant=acme, name="short", role="admin", expires_at=timezone.now() + timedelta(hours=1)
    )
    return issued.token, api_client(issued.plaintext)


def test_token_cannot_issue_one_that_outlives_it(hour_token):
    issuer, client = hour_token
    response = client.post(
        "/api/v1/tokens/",
        {"name": "long", "role": "admin", "expires_at": _iso(timezone.now() + timedelta(days=365))},
        format="json",
    )
    assert response.status_code == 403, response.json()
    error = response.json()["error"]
    assert error["code"] == "token_outlives_issuer"
    assert "cannot issue one that outlives it" in error["message"]
    issuer_end = timezone.datetime.fromisoformat(error["details"]["issuer_expires_at"])
    assert issuer_end == issuer.expires_at
    assert not ApiToken.objects.filter(name="long").exists()


def test_token_issued_without_expiry_inherits_the_issuers(hour_token):
    issuer, client = hour_token
    response = client.post("/api/v1/tokens/", {"name": "child", "role": "viewer"}, format="json")
    assert response.status_code == 201, response.json()
    assert _expiry(response.json()) == issuer.expires_at
    earlier = timezone.now() + timedelta(minutes=30)
    response = client.post(
        "/api/v1/tokens/",
        {"name": "shorter", "role": "viewer", "expires_at": _iso(earlier)},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert abs(_expiry(response.json()) - earlier) < timedelta(seconds=1)


def test_never_expiring_token_is_bounded_by_the_tenant_maximum(acme, api_client):
    acme.token_max_lifetime_days = None  # the policy allowed it when the issuer was made
    acme.save()
    forever = api_token_issue(tenant=acme, name="forever", role="admin")
    assert forever.token.expires_at is None
    acme.token_max_lifetime_days = 30
    acme.save()
    client = api_client(forever.plaintext)
    response = client.post("/api/v1/tokens/", {"name": "child", "role": "viewer"}, format="json")
    assert response.status_code == 201
    assert timedelta(days=29) < _expiry(response.json()) - timezone.now() <= timedelta(days=30)
    response = client.post(
        "/api/v1/tokens/",
        {"name": "long", "role": "viewer", "expires_at": _iso(timezone.now() + timedelta(days=90))},
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "token_lifetime_exceeds_policy"
    assert error["details"]["max_days"] == 30 and "latest" in error["details"]


def test_session_is_bounded_by_the_tenant_maximum(acme):
    acme.token_max_lifetime_days = 7
    acme.save()
    user = UserFactory(username="sam")
    MembershipFactory(user=user, tenant=acme, role="admin")
    client = Client()
    client.force_login(user)
    response = client.post(
        "/api/v1/tokens/", {"name": "s", "role": "viewer"}, content_type="application/json"
    )
    assert response.status_code == 201, response.json()
    assert timedelta(days=6) < _expiry(response.json()) - timezone.now() <= timedelta(days=7)
    too_long = _iso(timezone.now() + timedelta(days=8))
    response = client.post(
        "/api/v1/tokens/",
        {"name": "s", "role": "viewer", "expires_at": too_long},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "token_lifetime_exceeds_policy"


def test_rotation_keeps_the_old_expiry(acme, acme_admin):
    expires = timezone.now() + timedelta(days=3)
    old = api_token_issue(tenant=acme, name="ci", role="viewer", expires_at=expires).token
    response = acme_admin.post(f"/api/v1/tokens/{old.prefix}/rotate/")
    assert response.status_code == 201, response.json()
    assert _expiry(response.json()) == expires


def test_rotation_of_a_never_expiring_token_gets_the_policy_maximum(acme, acme_admin):
    acme.token_max_lifetime_days = None
    acme.save()
    old = api_token_issue(tenant=acme, name="legacy", role="viewer").token
    acme.token_max_lifetime_days = 10
    acme.save()
    response = acme_admin.post(f"/api/v1/tokens/{old.prefix}/rotate/")
    assert response.status_code == 201
    assert timedelta(days=9) < _expiry(response.json()) - timezone.now() <= timedelta(days=10)


def test_rotation_by_a_shorter_lived_token_is_bounded_by_it(acme, hour_token):
    issuer, client = hour_token
    long_lived = api_token_issue(
        tenant=acme, name="deploy", role="viewer", expires_at=timezone.now() + timedelta(days=60)
    ).token
    response = client.post(f"/api/v1/tokens/{long_lived.prefix}/rotate/")
    assert response.status_code == 201, response.json()
    assert _expiry(response.json()) == issuer.expires_at  # never outlives the issuer


def test_a_token_may_rotate_itself_and_keep_its_expiry(hour_token):
    issuer, client = hour_token
    response = client.post(f"/api/v1/tokens/{issuer.prefix}/rotate/")
    assert response.status_code == 201, response.json()
    assert _expiry(response.json()) == issuer.expires_at


def test_admin_edit_can_shorten_but_not_extend_a_token(acme):
    boss = UserFactory(username="boss-edit", is_staff=True)
    MembershipFactory(user=boss, tenant=acme, role="admin")
    client = Client()
    client.force_login(boss)
    expires = timezone.now() + timedelta(days=5)
    token = api_token_issue(tenant=acme, name="ci", role="viewer", expires_at=expires).token
    url = f"/admin/tenants/apitoken/{token.pk}/change/"

    def edit(moment):
        local = timezone.localtime(moment)
        return client.post(
            url,
            {
                "name": "ci",
                "expires_at_0": local.strftime("%Y-%m-%d"),
                "expires_at_1": local.strftime("%H:%M:%S"),
            },
        )

    refused = edit(expires + timedelta(days=300))
    assert refused.status_code == 200
    assert "never pushed back" in refused.content.decode()
    token.refresh_from_db()
    assert token.expires_at == expires
    assert edit(expires - timedelta(days=2)).status_code == 302
    token.refresh_from_db()
    assert abs(token.expires_at - (expires - timedelta(days=2))) < timedelta(seconds=1)
    event = AuditEvent.objects.get(action="token.update", target_id=str(token.pk))
    assert event.actor == "user:boss-edit" and "secret" not in str(event.after)


def test_wider_role_or_scopes_name_the_bound(acme, issue_token, api_client):
    # Only admins reach the endpoint, so a role above the issuer's is refused in the service
    # (the admin form and --actor commands call it for analysts too).
    analyst = UserFactory(username="ana-lyst")
    MembershipFactory(user=analyst, tenant=acme, role="analyst")
    with pytest.raises(DomainError) as refused:
        api_token_issue(tenant=acme, name="x", role="admin", created_by=analyst)
    assert refused.value.code == "token_wider_than_issuer"
    assert refused.value.details == {
        "bound": "role",
        "issuer_role": "analyst",
        "requested_role": "admin",
    }
    narrow = api_client(issue_token(acme, role="admin", scopes=["tokens:*", "scans:write"]))
    response = narrow.post(
        "/api/v1/tokens/",
        {"name": "x", "role": "viewer", "scopes": ["findings:read"]},
        format="json",
    )
    assert response.status_code == 403
    details = response.json()["error"]["details"]
    assert details["bound"] == "scopes" and details["requested_scopes"] == ["findings:read"]
