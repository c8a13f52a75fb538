"""The audit log records a working session end to end (an upload, a decision, triage, an
application's life), each row in its tenant's chain, which still verifies; and deleting what
a decision still needs answers 409 naming the blockers instead of a 500."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.findings.models import Application, Finding
from fixops.platform.audit import audit_chain_walk
from fixops.platform.models import AuditEvent
from tests.findings.reports import Result, many, sarif, upload

pytestmark = pytest.mark.django_db


def _rows(tenant, **filters):
    return list(
        AuditEvent.objects.filter(tenant_id=tenant.pk, **filters)
        .order_by("seq")
        .values("action", "actor", "target_type", "target_id", "before", "after")
    )


def _upload(client, content, *, decide=False, application="shop"):
    return client.post(
        "/api/v1/scans/",
        {"file": upload(content), "application": application, "decide": decide},
        format="multipart",
    )


def test_an_import_is_one_row_with_counts_whatever_its_size(acme, acme_analyst):
    response = _upload(acme_analyst, sarif(many(40)))
    assert response.status_code == 201, response.content
    scan_id = response.json()["id"]
    imports = _rows(acme, action="scan.import")
    assert len(imports) == 1
    row = imports[0]
    assert (row["target_type"], row["target_id"]) == ("findings.scan", str(scan_id))
    assert row["actor"].startswith("token:")
    assert row["after"]["counts"]["findings_new"] == 40
    # The application the upload created is audited; no row per finding.
    assert [r["action"] for r in _rows(acme, target_type="findings.application")] == [
        "application.create"
    ]
    assert not _rows(acme, target_type="findings.finding")
    assert audit_chain_walk(tenant_id=acme.pk).problems == []


def test_decision_triage_and_a_blocked_delete(acme, acme_analyst, acme_admin):
    _upload(acme_analyst, sarif([Result(rule="r1")]))
    decided = acme_analyst.post("/api/v1/decisions/", {"application": "shop"}, format="json")
    assert decided.status_code == 201, decided.content
    decision = _rows(acme, action="decision.create")
    assert [r["target_id"] for r in decision] == [str(decided.json()["id"])]
    assert decision[0]["after"]["outcome"] == decided.json()["outcome"]
    assert _rows(acme, action="evidence.bundle_create")

    finding = Finding.objects.get(tenant=acme)
    moved = acme_analyst.post(
        f"/api/v1/findings/{finding.pk}/transition/",
        {"status": "triaged", "reason": "real"},
        format="json",
    )
    assert moved.status_code == 200
    (status,) = _rows(acme, action="finding.status")
    assert (status["target_id"], status["before"], status["after"]["status"]) == (
        str(finding.pk),
        {"status": "open"},
        "triaged",
    )

    application = Application.objects.get(tenant=acme, name="shop")
    refused = acme_admin.delete(f"/api/v1/applications/{application.pk}/")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "delete_blocked"
    assert error["details"]["blocked_by"] == [
        {"kind": "policies.decision", "name": "decisions", "count": 1}
    ]
    assert error["message"].endswith(
        "need it: 1 decision (kept for the evidence and history they belong to)."
    )
    assert Application.objects.filter(pk=application.pk).exists()
    assert not _rows(acme, action="application.delete")
    assert audit_chain_walk(tenant_id=acme.pk).problems == []


def test_application_life_is_audited_with_old_and_new_values(acme, acme_analyst, acme_admin):
    created = acme_analyst.post("/api/v1/applications/", {"name": "svc"}, format="json").json()
    url = f"/api/v1/applications/{created['id']}/"
    acme_analyst.patch(url, {"criticality": "high"}, format="json")
    assert acme_admin.delete(url).status_code == 204
    rows = _rows(acme, target_type="findings.application")
    assert [r["action"] for r in rows] == [
        "application.create",
        "application.update",
        "application.delete",
    ]
    update = rows[1]
    assert update["after"] == {"name": "svc", "criticality": "high"}
    assert update["before"]["criticality"] != "high"
    assert rows[2]["before"] == {"name": "svc"} and rows[2]["after"] is None
    assert audit_chain_walk(tenant_id=acme.pk).problems == []


def test_the_admin_names_what_blocks_a_delete_instead_of_a_500(acme, acme_analyst, alice):
    _upload(acme_analyst, sarif([Result(rule="r1")]))
    assert (
        acme_analyst.post("/api/v1/decisions/", {"application": "shop"}, format="json").status_code
        == 201
    )
    application = Application.objects.get(tenant=acme, name="shop")
    alice.is_staff = True
    alice.save()
    client = Client()
    client.force_login(alice)
    url = f"/admin/findings/application/{application.pk}/delete/"
    page = client.get(url)
    assert page.status_code == 200
    assert "would require deleting the following protected related objects" in page.content.decode()
    refused = client.post(url, {"post": "yes"})
    assert refused.status_code == 200  # the same page again, nothing deleted
    assert Application.objects.filter(pk=application.pk).exists()
    assert not _rows(acme, action="admin.delete")
