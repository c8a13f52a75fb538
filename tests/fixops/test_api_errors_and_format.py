"""Refusals name what is missing (details.required), `?format=` is a filter on ordinary
endpoints, and views offering several representations choose them with `?format=`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.findings.reports import many, sarif, upload

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "scans"


def post_scan(client, content: bytes, application: str = "web", name: str = "report.json"):
    return client.post(
        "/api/v1/scans/",
        {"file": upload(content, name), "application": application},
        format="multipart",
    )


def test_a_missing_role_is_named(acme_viewer):
    response = acme_viewer.post("/api/v1/applications/", {"name": "web"}, format="json")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "permission_denied"
    assert error["details"]["required"] == {"role": "analyst"}
    assert error["details"]["role"] == "viewer"
    assert "analyst" in error["message"]


def test_a_missing_scope_is_named(acme, issue_token, api_client):
    client = api_client(issue_token(acme, role="admin", scopes=["findings:read"]))
    response = client.get("/api/v1/scans/")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "insufficient_scope"
    assert error["details"]["required"] == {"scope": "scans:read"}


def test_decisions_for_an_unknown_application_do_not_blame_the_role(acme_admin):
    response = acme_admin.post("/api/v1/decisions/", {"application": "nope"}, format="json")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "unknown_application"
    assert "role" not in error["message"] and "required" not in error["details"]
    assert "POST /api/v1/applications/" in error["message"]


def test_an_upload_that_may_not_create_the_application_names_the_scope(
    acme, issue_token, api_client
):
    client = api_client(issue_token(acme, role="analyst", scopes=["scans:write"]))
    response = post_scan(client, sarif(many(1)), application="brand-new")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["details"]["required"] == {"scope": "applications:write"}
    assert "applications:write" in error["message"]


def test_decide_without_the_decisions_scope_names_it(acme, issue_token, api_client):
    client = api_client(issue_token(acme, role="analyst", scopes=["scans:*", "applications:*"]))
    response = client.post(
        "/api/v1/scans/",
        {"file": upload(sarif(many(1))), "application": "web", "decide": "true"},
        format="multipart",
    )
    assert response.status_code == 403
    assert response.json()["error"]["details"]["required"] == {"scope": "decisions:write"}


def test_format_filters_scans(acme_analyst, globex_admin):
    sarif_scan = post_scan(acme_analyst, sarif(many(2))).json()
    cdx = (FIXTURES / "cyclonedx" / "env-1.5.cdx.json").read_bytes()
    cdx_scan = post_scan(acme_analyst, cdx, name="bom.cdx.json").json()
    assert sarif_scan["format"] != cdx_scan["format"]

    response = acme_analyst.get("/api/v1/scans/?format=sarif")
    assert response.status_code == 200, response.content
    assert [s["id"] for s in response.json()["results"]] == [sarif_scan["id"]]
    other = acme_analyst.get(f"/api/v1/scans/?format={cdx_scan['format']}").json()
    assert [s["id"] for s in other["results"]] == [cdx_scan["id"]]
    assert acme_analyst.get("/api/v1/scans/?format=json").json()["results"] == []
    # The outsider's list never shows acme's scans, whatever the filter.
    assert globex_admin.get("/api/v1/scans/?format=sarif").json()["results"] == []


@pytest.mark.urls("tests.fixops.throttle_urls")
def test_views_offering_representations_choose_them_with_format(client):
    assert client.get("/two-formats/").json() == {"format": "json"}
    plain = client.get("/two-formats/?format=txt")
    assert plain["Content-Type"].startswith("text/plain") and plain.content == b"plain text"
    # An explicit format wins over Accept.
    assert client.get("/two-formats/?format=json", HTTP_ACCEPT="text/plain").json() == {
        "format": "json"
    }
    unknown = client.get("/two-formats/?format=pdf")
    assert unknown.status_code == 400
    assert "json" in str(unknown.json()["error"]["details"]["format"])


def test_the_schema_view_opts_in_to_format(acme_viewer):
    as_json = acme_viewer.get("/api/schema/?format=json")
    assert as_json.status_code == 200 and "json" in as_json["Content-Type"]
    assert as_json.json()["openapi"].startswith("3.")
    as_yaml = acme_viewer.get("/api/schema/?format=yaml")
    assert "yaml" in as_yaml["Content-Type"] or "openapi" in as_yaml["Content-Type"]
    assert as_yaml.content.startswith(b"openapi:")
