"""/api/v1/streams/ (list, retire) and the scan's `target` in /api/v1/scans/."""

from __future__ import annotations

import json

import pytest

from apps.findings.models import Finding
from fixops.platform.models import AuditEvent
from tests.findings.reports import upload
from tests.findings.services.test_streams import LOG4J, LOG4SHELL, OPENSSL, trivy

pytestmark = pytest.mark.django_db


def post_scan(client, content: bytes, **fields):
    body = {"file": upload(content), "application": "shop", "branch": "main", **fields}
    return client.post("/api/v1/scans/", body, format="multipart")


def test_scans_show_and_filter_their_target(acme_analyst):
    first = post_scan(acme_analyst, trivy("shop/api:1.0", (LOG4SHELL, LOG4J)))
    assert first.status_code == 201, first.content
    assert first.json()["target"] == "shop/api"
    named = post_scan(acme_analyst, trivy("x", ("CVE-2022-0778", OPENSSL)), target="worker 1.0")
    assert named.json()["target"] == "worker 1.0"
    listed = acme_analyst.get("/api/v1/scans/", {"target": "shop/api"}).json()["results"]
    assert [s["id"] for s in listed] == [first.json()["id"]]
    assert acme_analyst.get(first.json()["status_url"]).json()["target"] == "shop/api"
    finding = Finding.objects.get(vuln_id=LOG4SHELL)
    detail = acme_analyst.get(f"/api/v1/findings/{finding.pk}/").json()
    assert [o["target"] for o in detail["occurrences"]] == ["shop/api"]


def test_target_field_is_limited(acme_analyst):
    response = post_scan(acme_analyst, trivy("a", (LOG4SHELL, LOG4J)), target="x" * 301)
    assert response.status_code == 400
    assert "target" in response.json()["error"]["details"]


def test_streams_list(acme_analyst, acme_viewer, globex_admin):
    post_scan(acme_analyst, trivy("shop/api:1.0", (LOG4SHELL, LOG4J), ("CVE-2022-0778", OPENSSL)))
    post_scan(acme_analyst, trivy("shop/worker:1.0", ("CVE-2022-0778", OPENSSL)))
    body = acme_viewer.get("/api/v1/streams/").json()
    rows = {row["target"]: row for row in body["results"]}
    assert set(rows) == {"shop/api", "shop/worker"}
    api = rows["shop/api"]
    assert (api["application"], api["tool"], api["branch"]) == ("shop", "trivy", "main")
    assert api["open_occurrences"] == 2 and api["last_scan_id"] and api["last_seen"]
    assert api["retired_at"] is None
    assert rows["shop/worker"]["open_occurrences"] == 1
    filtered = acme_viewer.get("/api/v1/streams/", {"target": "shop/worker", "tool": "trivy"})
    assert [r["target"] for r in filtered.json()["results"]] == ["shop/worker"]
    assert acme_viewer.get("/api/v1/streams/", {"target": ""}).json()["results"] == []
    assert globex_admin.get("/api/v1/streams/").json()["results"] == []  # tenant scoped


def test_retire_a_stream(acme, acme_analyst, acme_viewer, globex_admin):
    post_scan(acme_analyst, trivy("shop/api:1.0", (LOG4SHELL, LOG4J)))
    key = {"application": "shop", "tool": "trivy", "branch": "main", "target": "shop/api"}
    assert acme_viewer.post("/api/v1/streams/retire/", key, format="json").status_code == 403
    assert globex_admin.post("/api/v1/streams/retire/", key, format="json").status_code == 404
    response = acme_analyst.post("/api/v1/streams/retire/", key, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["occurrences_retracted"], body["findings_closed"]) == (1, 1)
    assert body["stream"]["retired_at"] and body["stream"]["open_occurrences"] == 0
    assert Finding.objects.get(tenant=acme, vuln_id=LOG4SHELL).status == "fixed"
    assert AuditEvent.objects.filter(tenant_id=acme.pk, action="stream.retire").count() == 1

    unknown = acme_analyst.post(
        "/api/v1/streams/retire/", {**key, "target": "shop/nope"}, format="json"
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_stream"


def test_a_hostile_target_in_the_report_is_stored_cleaned(acme_analyst):
    # The target alone (NULs and surrogates in findings are the parsers' text hygiene).
    source = {"type": "directory", "target": "src/\ud800x\u0000/"}
    report = {"matches": [], "source": source, "descriptor": {"name": "grype"}}
    response = post_scan(acme_analyst, json.dumps(report).encode())
    assert response.status_code == 201, response.content
    target = response.json()["target"]  # the surrogate as the JSON reader decoded it
    # NUL and the lone surrogate became U+FFFD (text hygiene), the trailing "/" went.
    assert target == "src/\ufffdx\ufffd"
