"""Application.source_roots in the API and the admin: validated, normalised, editable."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from apps.findings.models import Application
from tests.findings.factories import ApplicationFactory
from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/applications/"


def test_source_roots_are_created_normalised_and_shown(acme_analyst):
    response = acme_analyst.post(
        URL,
        {
            "name": "shop",
            "source_roots": ["/builds/acme/shop/", "C:\\build\\shop", "/builds/acme/shop"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["source_roots"] == ["/builds/acme/shop", "C:/build/shop"]
    assert Application.objects.get(name="shop").source_roots == [
        "/builds/acme/shop",
        "C:/build/shop",
    ]


def test_source_roots_default_to_none_and_can_be_patched(acme, acme_analyst):
    app = ApplicationFactory(tenant=acme)
    assert acme_analyst.get(f"{URL}{app.pk}/").json()["source_roots"] == []
    response = acme_analyst.patch(
        f"{URL}{app.pk}/", {"source_roots": ["file:///srv/ci/shop/"]}, format="json"
    )
    assert response.status_code == 200, response.content
    app.refresh_from_db()
    assert app.source_roots == ["file:///srv/ci/shop"]


@pytest.mark.parametrize(
    "roots",
    [
        ["relative/dir"],
        ["/a/../b"],
        [""],
        ["/ok", "/x\x1b[31m"],
        [f"/r{i}" for i in range(21)],
        ["/" + "x" * 600],
        "/not/a/list",
    ],
)
def test_bad_source_roots_are_field_errors(acme, acme_analyst, roots):
    app = ApplicationFactory(tenant=acme)
    response = acme_analyst.patch(f"{URL}{app.pk}/", {"source_roots": roots}, format="json")
    assert response.status_code == 400, response.content
    assert "source_roots" in response.json()["error"]["details"]
    app.refresh_from_db()
    assert app.source_roots == []


def test_outsider_cannot_touch_them(acme, globex_admin):
    app = ApplicationFactory(tenant=acme)
    response = globex_admin.patch(f"{URL}{app.pk}/", {"source_roots": ["/x"]}, format="json")
    assert response.status_code == 404


def _admin_client(tenant):
    user = UserFactory(username="ada", is_staff=True)
    MembershipFactory(user=user, tenant=tenant, role="admin")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="findings"))
    client = Client()
    client.force_login(user)
    return client


def _form(app, roots: str) -> dict:
    return {
        "tenant": app.tenant_id,
        "name": app.name,
        "description": "",
        "repo_url": "",
        "criticality": "medium",
        "data_classification": "internal",
        "owners": "[]",
        "source_roots": roots,
        "created_at_0": "2026-01-01",
        "created_at_1": "00:00:00",
    }


def test_admin_edits_and_validates_source_roots(acme):
    app = ApplicationFactory(tenant=acme)
    client = _admin_client(acme)
    url = f"/admin/findings/application/{app.pk}/change/"
    bad = client.post(url, _form(app, '["relative"]'))
    assert bad.status_code == 200 and "must be an absolute directory" in bad.content.decode()
    app.refresh_from_db()
    assert app.source_roots == []
    good = client.post(url, _form(app, '["/builds/acme/shop/"]'))
    assert good.status_code == 302, good.content.decode()[:3000]
    app.refresh_from_db()
    assert app.source_roots == ["/builds/acme/shop"]
