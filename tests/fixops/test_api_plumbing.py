"""Error bodies, request ids, the OpenAPI schema and its offline docs page."""

from __future__ import annotations

import pytest
import yaml
from django.test import Client

pytestmark = pytest.mark.django_db


def test_unknown_api_url_is_a_json_404(acme_viewer):
    response = acme_viewer.get("/api/v1/nope/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_request_id_is_echoed_when_plain_and_replaced_when_hostile(acme_viewer):
    ok = acme_viewer.get("/api/v1/me/", HTTP_X_REQUEST_ID="ci-run-42")
    assert ok["X-Request-ID"] == "ci-run-42"
    hostile = acme_viewer.get("/api/v1/me/", HTTP_X_REQUEST_ID="x\nFAKE LOG LINE")
    assert hostile["X-Request-ID"] != "x\nFAKE LOG LINE" and len(hostile["X-Request-ID"]) == 32


def test_method_not_allowed_body(acme_viewer):
    response = acme_viewer.delete("/api/v1/me/")
    assert response.status_code in (403, 405)
    assert set(response.json()["error"]) == {"code", "message", "details", "request_id"}


def test_openapi_schema_lists_the_api():
    response = Client().get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    assert {
        "/api/v1/me/",
        "/api/v1/applications/",
        "/api/v1/applications/{application_id}/",
    } <= set(schema["paths"])
    params = {p["name"] for p in schema["paths"]["/api/v1/applications/"]["get"]["parameters"]}
    assert {"criticality", "q", "ordering", "page"} <= params


def test_docs_page_uses_bundled_assets_only():
    html = Client().get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn." not in html and "unpkg" not in html
    asset = Client().get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert b"SwaggerUIBundle" in b"".join(asset.streaming_content)


def test_root_redirects_to_admin():
    response = Client().get("/")
    assert response.status_code == 302 and response["Location"] == "/admin/"
