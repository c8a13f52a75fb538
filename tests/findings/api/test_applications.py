"""Applications CRUD: roles, validation, filters, pagination, conflicts, the outsider."""

from __future__ import annotations

import pytest

from apps.findings.models import Application
from tests.findings.factories import ApplicationFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/applications/"


def test_analyst_creates_an_application(acme, acme_analyst):
    response = acme_analyst.post(
        URL,
        {
            "name": "payments",
            "repo_url": "https://git.example.com/payments",
            "criticality": "critical",
            "internet_exposed": True,
            "data_classification": "restricted",
            "owners": ["team@example.com"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    app = Application.objects.get(pk=body["id"])
    assert app.tenant == acme
    assert (app.criticality, app.internet_exposed, app.data_classification) == (
        "critical",
        True,
        "restricted",
    )
    assert body["owners"] == ["team@example.com"]


def test_defaults_apply(acme_analyst):
    body = acme_analyst.post(URL, {"name": "svc"}, format="json").json()
    assert body["criticality"] == "medium"
    assert body["internet_exposed"] is False
    assert body["data_classification"] == "internal"


def test_validation_errors_use_the_error_body(acme_analyst):
    response = acme_analyst.post(
        URL, {"name": "", "criticality": "extreme", "repo_url": "not a url"}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["details"]) == {"name", "criticality", "repo_url"}
    assert error["request_id"] == response["X-Request-ID"]


def test_malformed_json_is_a_parse_error(acme_analyst):
    response = acme_analyst.generic("POST", URL, b'{"name": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_duplicate_name_is_a_conflict(acme, acme_analyst):
    ApplicationFactory(tenant=acme, name="svc")
    response = acme_analyst.post(URL, {"name": "svc"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert Application.objects.filter(tenant=acme, name="svc").count() == 1


def test_same_name_in_another_tenant_is_fine(globex, acme_analyst):
    ApplicationFactory(tenant=globex, name="svc")
    assert acme_analyst.post(URL, {"name": "svc"}, format="json").status_code == 201


def test_viewer_reads_but_cannot_write(acme, acme_viewer):
    app = ApplicationFactory(tenant=acme)
    assert acme_viewer.get(f"{URL}{app.pk}/").status_code == 200
    response = acme_viewer.post(URL, {"name": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert acme_viewer.patch(f"{URL}{app.pk}/", {"name": "y"}, format="json").status_code == 403


def test_patch_changes_only_given_fields(acme, acme_analyst):
    app = ApplicationFactory(tenant=acme, criticality="low", internet_exposed=False)
    response = acme_analyst.patch(f"{URL}{app.pk}/", {"internet_exposed": True}, format="json")
    assert response.status_code == 200
    app.refresh_from_db()
    assert app.internet_exposed is True and app.criticality == "low"


def test_put_requires_the_name(acme, acme_analyst):
    app = ApplicationFactory(tenant=acme)
    response = acme_analyst.put(f"{URL}{app.pk}/", {"criticality": "high"}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["error"]["details"]


def test_rename_onto_existing_name_conflicts(acme, acme_analyst):
    ApplicationFactory(tenant=acme, name="a")
    b = ApplicationFactory(tenant=acme, name="b")
    assert acme_analyst.patch(f"{URL}{b.pk}/", {"name": "a"}, format="json").status_code == 409


def test_only_admin_deletes(acme, acme_analyst, acme_admin):
    app = ApplicationFactory(tenant=acme)
    assert acme_analyst.delete(f"{URL}{app.pk}/").status_code == 403
    assert acme_admin.delete(f"{URL}{app.pk}/").status_code == 204
    assert not Application.objects.filter(pk=app.pk).exists()


def test_filters_and_ordering(acme, acme_viewer):
    ApplicationFactory(tenant=acme, name="web", criticality="high", internet_exposed=True)
    ApplicationFactory(tenant=acme, name="batch", criticality="low")
    ApplicationFactory(tenant=acme, name="api", criticality="high")

    def names(**params):
        return [a["name"] for a in acme_viewer.get(URL, params).json()["results"]]

    assert names() == ["api", "batch", "web"]
    assert names(criticality="high") == ["api", "web"]
    assert names(internet_exposed="true") == ["web"]
    assert names(q="bat") == ["batch"]
    assert names(ordering="-name") == ["web", "batch", "api"]
    bad = acme_viewer.get(URL, {"criticality": "extreme"})
    assert bad.status_code == 400 and "criticality" in bad.json()["error"]["details"]


def test_pagination(acme, acme_viewer):
    for i in range(5):
        ApplicationFactory(tenant=acme, name=f"app-{i}")
    page = acme_viewer.get(URL, {"page_size": 2}).json()
    assert page["count"] == 5 and len(page["results"]) == 2 and page["next"]
    last = acme_viewer.get(URL, {"page_size": 2, "page": 3}).json()
    assert [a["name"] for a in last["results"]] == ["app-4"] and last["next"] is None
    assert acme_viewer.get(URL, {"page": 99}).status_code == 404


def test_outsider_gets_404(acme, globex_admin):
    app = ApplicationFactory(tenant=acme)
    for method in ("get", "patch", "put", "delete"):
        response = getattr(globex_admin, method)(f"{URL}{app.pk}/", {"name": "x"}, format="json")
        assert response.status_code == 404
    assert Application.objects.filter(pk=app.pk, name=app.name).exists()
