"""/api/schema/ and /api/docs/: public only with FIXOPS_PUBLIC_API_DOCS, otherwise for a
signed-in user or an API token (401 in the error shape, or the sign-in page for a browser)."""

from __future__ import annotations

import pytest
import yaml
from django.test import Client

from tests.fixops.test_settings import PRODUCTION, _run

pytestmark = pytest.mark.django_db


@pytest.fixture
def private_docs(settings):
    settings.FIXOPS_PUBLIC_API_DOCS = False


def test_schema_refuses_an_anonymous_caller_in_the_error_shape(private_docs):
    response = Client().get("/api/schema/")
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response["WWW-Authenticate"].startswith("Bearer")
    error = response.json()["error"]
    assert error["code"] == "not_authenticated"
    assert set(error) == {"code", "message", "details", "request_id"}
    assert b"/api/v1/" not in response.content


def test_schema_refuses_a_bad_token(private_docs):
    response = Client(HTTP_AUTHORIZATION="Bearer fxo_nope_nope").get("/api/schema/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] in ("invalid_token", "authentication_failed")


def test_schema_for_an_api_token_and_a_signed_in_user(private_docs, acme, issue_token, bob):
    token = issue_token(acme, role="viewer")
    by_token = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/schema/")
    assert by_token.status_code == 200
    assert "/api/v1/me/" in yaml.safe_load(by_token.content)["paths"]
    session = Client()
    session.force_login(bob)
    assert session.get("/api/schema/", {"format": "json"}).json()["openapi"].startswith("3.")


def test_docs_page_sends_a_browser_to_sign_in_and_back(private_docs, bob):
    for path in ("/api/docs/", "/api/docs/?script="):
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=/api/docs/")
    session = Client()
    session.force_login(bob)
    page = session.get("/api/docs/")
    assert page.status_code == 200 and b"swagger-ui" in page.content


def test_public_docs_need_nothing(settings):
    settings.FIXOPS_PUBLIC_API_DOCS = True
    assert Client().get("/api/schema/").status_code == 200
    assert Client().get("/api/docs/").status_code == 200


def test_production_keeps_the_docs_private_by_default():
    shell = "from django.conf import settings; print(settings.FIXOPS_PUBLIC_API_DOCS)"
    result = _run(PRODUCTION, "shell", "-c", shell)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
    opened = _run({**PRODUCTION, "FIXOPS_PUBLIC_API_DOCS": "true"}, "shell", "-c", shell)
    assert opened.stdout.strip().splitlines()[-1] == "True"
