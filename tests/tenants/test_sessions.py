"""Signed-in users act in a tenant chosen among their memberships, never another."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.findings.factories import ApplicationFactory
from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_single_membership_is_used_implicitly(alice, acme):
    ApplicationFactory(tenant=acme, name="mine")
    body = _client(alice).get("/api/v1/me/").json()
    assert body["tenant"]["slug"] == "acme" and body["auth"] == "session"
    assert body["user"] == "alice" and body["token"] is None


def test_several_memberships_need_a_selection(acme, globex):
    user = UserFactory(username="dana")
    MembershipFactory(user=user, tenant=acme, role="viewer")
    MembershipFactory(user=user, tenant=globex, role="analyst")
    ApplicationFactory(tenant=globex, name="globex-app")
    client = _client(user)
    response = client.get("/api/v1/applications/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "tenant_not_selected"

    csrf = client.get("/admin/login/").cookies["csrftoken"].value
    select = client.post(
        "/api/v1/me/tenant/", {"tenant": "globex"}, format="json", HTTP_X_CSRFTOKEN=csrf
    )
    assert select.status_code == 200 and select.json()["slug"] == "globex"
    me = client.get("/api/v1/me/").json()
    assert me["role"] == "analyst"
    assert {t["slug"] for t in me["tenants"]} == {"acme", "globex"}
    assert [a["name"] for a in client.get("/api/v1/applications/").json()["results"]] == [
        "globex-app"
    ]


def test_cannot_select_a_tenant_without_membership(alice, globex):
    client = _client(alice)
    csrf = client.get("/admin/login/").cookies["csrftoken"].value
    response = client.post(
        "/api/v1/me/tenant/", {"tenant": "globex"}, format="json", HTTP_X_CSRFTOKEN=csrf
    )
    assert response.status_code == 400
    assert "not a member" in str(response.json()["error"]["details"])
    assert _client(alice).get("/api/v1/me/").json()["tenant"]["slug"] == "acme"


def test_session_writes_need_csrf(alice):
    response = _client(alice).post("/api/v1/applications/", {"name": "x"}, format="json")
    assert response.status_code == 403


def test_user_without_membership_is_refused(db):
    response = _client(UserFactory(username="eve")).get("/api/v1/me/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "no_tenant"


def test_tokens_cannot_switch_tenant(acme, issue_token, api_client, globex):
    response = api_client(issue_token(acme)).post(
        "/api/v1/me/tenant/", {"tenant": "globex"}, format="json"
    )
    # Session-only endpoint: the bearer token is not even considered.
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_authenticated"
