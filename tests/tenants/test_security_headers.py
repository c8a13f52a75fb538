"""Security headers on every response, and Django's deployment checks in production mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/admin/login/", "/healthz", "/api/v1/me/", "/api/docs/", "/nope"]
)
def test_every_response_carries_the_headers(path):
    response = Client().get(path)
    csp = response["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'self'",
    ):
        assert directive in csp, (path, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]


def test_sign_in_pages_have_no_inline_script_or_style(db):
    page = Client().get("/accounts/login/").content.decode()
    assert "<script>" not in page and "style=" not in page and "<style" not in page


def test_check_deploy_is_clean_in_production_mode(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fixops.settings.base",
        "FIXOPS_ENV": "production",
        "SECRET_KEY": "x" * 30 + "production-like-secret-key-0123456789",
        "FIXOPS_ENCRYPTION_KEYS": "ZGV2ZWxvcG1lbnQtb25seS1maXhvcHMta2V5LTAwMDA=",
        "ALLOWED_HOSTS": "fixops.example.com",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/fixops",
        "FIXOPS_VAR_DIR": str(tmp_path),
    }
    env.pop("FIXOPS_TEST_DB", None)
    result = subprocess.run(  # noqa: S603 - fixed argv
        [
            sys.executable,
            "manage.py",
            "check",
            "--deploy",
            "--tag",
            "security",
            "--fail-level",
            "WARNING",
        ],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_hsts_and_secure_cookies(tmp_path):
    code = (
        "from django.conf import settings as s;"
        "print(s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fixops.settings.base",
        "FIXOPS_ENV": "production",
        "SECRET_KEY": "y" * 60,
        "FIXOPS_ENCRYPTION_KEYS": "ZGV2ZWxvcG1lbnQtb25seS1maXhvcHMta2V5LTAwMDA=",
        "ALLOWED_HOSTS": "fixops.example.com",
        "FIXOPS_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split() == ["31536000", "True", "True", "True", "Lax"], result.stderr


def test_misconfigured_sso_is_reported_by_check(settings):
    from apps.tenants.checks import sso_configuration

    settings.FIXOPS_OIDC_PROVIDERS = [{"slug": "Bad Slug", "issuer": "x"}]
    settings.FIXOPS_SAML_PROVIDERS = [{"slug": "s", "entity_id": "e"}]
    settings.FIXOPS_SSO_MAPPING = [{"group": "g", "tenant": "acme", "role": "owner"}]
    messages = [m.msg for m in sso_configuration()]
    assert any("FIXOPS_OIDC_PROVIDERS[0].slug" in m for m in messages)
    assert any("exactly one of metadata_file and metadata_url" in m for m in messages)
    assert any("role must be one of" in m for m in messages)
    settings.FIXOPS_OIDC_PROVIDERS = settings.FIXOPS_SAML_PROVIDERS = []
    settings.FIXOPS_SSO_MAPPING = []
    settings.FIXOPS_LOCAL_LOGIN = False
    assert [m.id for m in sso_configuration()] == ["fixops.W101"]
