"""Triage transitions: validated by the lifecycle table, recorded as events, roles enforced."""

from __future__ import annotations

import pytest

from apps.findings.models import FindingEvent
from tests.findings.factories import FindingFactory
from tests.findings.reports import many, sarif, upload

pytestmark = pytest.mark.django_db


def url(finding) -> str:
    return f"/api/v1/findings/{finding.pk}/transition/"


def test_allowed_transition_is_applied_and_recorded(acme, acme_analyst):
    finding = FindingFactory(tenant=acme, status="open")
    response = acme_analyst.post(
        url(finding), {"status": "triaged", "reason": "real"}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == "triaged"
    event = FindingEvent.objects.get(finding=finding)
    assert (event.from_status, event.to_status, event.reason) == ("open", "triaged", "real")
    assert event.actor.startswith("token:")


def test_forbidden_transition_is_409_and_changes_nothing(acme, acme_analyst):
    finding = FindingFactory(tenant=acme, status="open")
    response = acme_analyst.post(url(finding), {"status": "verified"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"
    finding.refresh_from_db()
    assert finding.status == "open" and not FindingEvent.objects.exists()


def test_risk_acceptance_needs_a_request(acme, acme_analyst):
    finding = FindingFactory(tenant=acme, status="open")
    response = acme_analyst.post(url(finding), {"status": "risk_accepted"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "acceptance_required"


def test_viewer_cannot_triage_and_outsider_gets_404(acme, acme_viewer, globex_admin):
    finding = FindingFactory(tenant=acme, status="open")
    assert acme_viewer.post(url(finding), {"status": "triaged"}, format="json").status_code == 403
    assert globex_admin.post(url(finding), {"status": "triaged"}, format="json").status_code == 404


def test_imports_record_closing_and_reopening(acme_analyst):
    def send(results):
        return acme_analyst.post(
            "/api/v1/scans/",
            {"file": upload(sarif(results)), "application": "web", "branch": "main"},
            format="multipart",
        ).json()

    send(many(2))
    closing = send(many(1))
    send(many(2, offset=0) + [])  # identical bytes to the first import, after a newer one
    events = list(
        FindingEvent.objects.order_by("id").values_list("from_status", "to_status", "actor")
    )
    assert events == [
        ("open", "fixed", f"scan:{closing['id']}"),
        ("fixed", "reopened", events[1][2]),
    ]
