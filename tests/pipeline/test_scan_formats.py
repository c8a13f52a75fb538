"""Choosing a report's format at upload: the unknown-format error lists why each registered
format declined (details.candidates), `format` overrides detection, and the CI client passes
--format through."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from apps.findings.models import Finding, Scan
from apps.findings.parsers import registry
from tests.findings.reports import upload

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "tools" / "fixops_gate.py"
URL = "/api/v1/scans/"


def post(client, content: bytes, **fields):
    return client.post(
        URL, {"file": upload(content), "application": "web", **fields}, format="multipart"
    )


@pytest.mark.django_db
def test_unknown_report_lists_every_format_and_why_it_declined(acme_analyst):
    response = post(acme_analyst, json.dumps({"report": [], "tool": "mine"}).encode())
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unknown_format"
    candidates = error["details"]["candidates"]
    assert [c["format"] for c in candidates] == sorted(registry())
    reasons = {c["format"]: c["reason"] for c in candidates}
    assert reasons["sarif"].startswith("a JSON object (keys `report`, `tool`) without `runs`")
    assert reasons["cyclonedx-xml"] == "not XML (a JSON object)"
    assert reasons["gitleaks"] == "a JSON object, expected a JSON array"
    assert "SPDX tag-value" in reasons["spdx-tag-value"]
    assert not Scan.objects.exists()


@pytest.mark.django_db
def test_candidates_for_xml_and_text(acme_analyst):
    xml = post(acme_analyst, b'<?xml version="1.0"?><project><name>x</name></project>')
    reasons = {c["format"]: c["reason"] for c in xml.json()["error"]["details"]["candidates"]}
    assert reasons["cyclonedx-xml"].startswith("XML root <project>, expected <bom>")
    assert reasons["sarif"] == "not JSON (XML)"
    text = post(acme_analyst, b"hello, I am not a report")
    reasons = {c["format"]: c["reason"] for c in text.json()["error"]["details"]["candidates"]}
    assert reasons["trivy"].startswith("not JSON")
    assert reasons["spdx-tag-value"].startswith("text that is neither JSON nor XML without")


@pytest.mark.django_db
def test_an_explicit_format_imports_what_detection_cannot_claim(acme_analyst):
    # gitleaks writes a bare [] when it finds nothing; no detector can claim that
    assert post(acme_analyst, b"[]\n").status_code == 400
    response = post(acme_analyst, b"[]\n", format="gitleaks")
    assert response.status_code == 201, response.content
    assert response.json()["format"] == "gitleaks"


@pytest.mark.django_db
def test_an_unknown_explicit_format_is_a_field_error(acme_analyst):
    response = post(acme_analyst, b"[]", format="nessus")
    assert response.status_code == 400
    assert "format" in response.json()["error"]["details"]


@pytest.mark.django_db(transaction=True)
def test_ci_client_passes_format(live_server, acme, issue_token, tmp_path):
    token = issue_token(acme, role="analyst")
    report = tmp_path / "leaks.json"
    report.write_text("[]\n")
    args = [sys.executable, str(CLIENT), "--url", live_server.url, "--token", token]
    args += ["--application", "shop"]
    env = {"PATH": "/usr/bin:/bin"}
    detected = subprocess.run(
        [*args, str(report)], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert detected.returncode == 3 and "candidates" in detected.stderr
    forced = subprocess.run(
        [*args, "--format", "gitleaks", str(report)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert forced.returncode == 0, forced.stderr
    assert "(gitleaks," in forced.stdout
    assert Scan.objects.get().format == "gitleaks" and not Finding.objects.exists()
