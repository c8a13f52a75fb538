"""SAML endpoints exist only when a SAML provider is configured, and a missing xmlsec1 is named
at start-up (system check fixops.E103) and by the endpoints (503), never a 500."""

from __future__ import annotations

import os
import stat

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

pytestmark = pytest.mark.django_db

PROVIDER = {
    "slug": "corp-saml",
    "name": "Corp SAML",
    "entity_id": "https://idp.corp.example/saml",
    "metadata_file": "/nonexistent/idp-metadata.xml",  # never read while xmlsec1 is missing
    "mapping": [],
}


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/saml2/metadata/"), ("get", "/saml2/login/"), ("post", "/saml2/acs/")],
)
def test_saml_endpoints_are_404_without_a_provider(settings, method, path):
    settings.FIXOPS_SAML_PROVIDERS = []
    response = getattr(Client(), method)(path)
    assert response.status_code == 404
    assert b"EntityDescriptor" not in response.content


def test_no_check_error_without_saml_even_without_xmlsec1(settings, tmp_path):
    settings.FIXOPS_SAML_PROVIDERS = []
    settings.FIXOPS_SAML_XMLSEC = str(tmp_path / "xmlsec1")
    call_command("check")  # raises SystemCheckError on any error


def test_check_fails_when_saml_is_configured_and_xmlsec1_is_missing(settings, tmp_path):
    settings.FIXOPS_SAML_PROVIDERS = [PROVIDER]
    settings.FIXOPS_SAML_XMLSEC = str(tmp_path / "xmlsec1")
    with pytest.raises(SystemCheckError) as raised:
        call_command("check")
    message = str(raised.value)
    assert "fixops.E103" in message and "xmlsec1 is missing" in message
    assert "apt-get install xmlsec1" in message  # the hint says how to install it


def test_check_looks_a_bare_name_up_on_path(settings, tmp_path, monkeypatch):
    settings.FIXOPS_SAML_PROVIDERS = [PROVIDER]
    settings.FIXOPS_SAML_XMLSEC = "xmlsec1"
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without xmlsec1
    with pytest.raises(SystemCheckError, match="fixops.E103"):
        call_command("check")
    fake = tmp_path / "xmlsec1"
    fake.write_text("#!/bin/sh\nexit 0\n")
    with pytest.raises(SystemCheckError, match="fixops.E103"):
        call_command("check")  # there, but not executable
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    call_command("check")


def test_installed_xmlsec1_passes(settings):
    # A missing xmlsec1 fails, never skips: bin/test-peers names it, .ci/run installs it.
    assert os.access("/usr/bin/xmlsec1", os.X_OK), "xmlsec1 is missing: apt-get install xmlsec1"
    settings.FIXOPS_SAML_PROVIDERS = [PROVIDER]
    settings.FIXOPS_SAML_XMLSEC = "/usr/bin/xmlsec1"
    call_command("check")


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/saml2/metadata/"), ("get", "/saml2/login/"), ("post", "/saml2/acs/")],
)
def test_endpoints_say_xmlsec1_is_missing_instead_of_a_500(settings, tmp_path, method, path):
    settings.FIXOPS_SAML_PROVIDERS = [PROVIDER]
    settings.FIXOPS_SAML_XMLSEC = str(tmp_path / "xmlsec1")
    response = getattr(Client(), method)(path)
    assert response.status_code == 503
    assert "xmlsec1 is missing" in response.content.decode()
