"""GET /api/v1/integrations/{id}/drift/: viewers read the drift report of their own tenant's
integration, filtered by kind and state, in keyset pages."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.connectors.models import Drift

pytestmark = pytest.mark.django_db


def _drift(integration, kind: str, n: int, repaired: bool = False) -> Drift:
    return Drift.objects.create(
        tenant=integration.tenant,
        integration=integration,
        kind=kind,
        reference=f"fixops-f-{n}",
        remote_key=f"SEC-{n}",
        finding_id=n,
        repaired_at=timezone.now() if repaired else None,
        detail={"repair": "link removed"},
    )


def test_viewer_reads_filters_and_pages(acme, acme_viewer, fake_jira, make_integration):
    jira = make_integration(acme, fake_jira)
    _drift(jira, "ticket_deleted", 1)
    _drift(jira, "ticket_closed_finding_open", 2, repaired=True)
    _drift(jira, "finding_closed_ticket_open", 3)
    url = f"/api/v1/integrations/{jira.pk}/drift/"
    listed = acme_viewer.get(url).json()
    assert [d["reference"] for d in listed["results"]] == [
        "fixops-f-3",
        "fixops-f-2",
        "fixops-f-1",
    ]
    first = listed["results"][2]
    assert first["kind"] == "ticket_deleted" and first["remote_key"] == "SEC-1"
    assert first["repaired_at"] is None and first["detail"] == {"repair": "link removed"}
    open_ = acme_viewer.get(url, {"state": "open"}).json()["results"]
    assert {d["finding_id"] for d in open_} == {1, 3}
    repaired = acme_viewer.get(url, {"state": "repaired"}).json()["results"]
    assert [d["finding_id"] for d in repaired] == [2]
    kinds = acme_viewer.get(url, {"kind": ["ticket_deleted", "finding_closed_ticket_open"]})
    assert {d["finding_id"] for d in kinds.json()["results"]} == {1, 3}
    assert acme_viewer.get(url, {"kind": "lost"}).status_code == 400
    # Keyset pages: a cursor, no count.
    page = acme_viewer.get(url, {"page_size": 2}).json()
    assert len(page["results"]) == 2 and page["next"] and "count" not in page
    rest = acme_viewer.get(page["next"]).json()
    assert [d["finding_id"] for d in rest["results"]] == [1]


def test_other_tenants_get_404(acme, globex_admin, fake_jira, make_integration):
    jira = make_integration(acme, fake_jira)
    _drift(jira, "ticket_deleted", 1)
    assert globex_admin.get(f"/api/v1/integrations/{jira.pk}/drift/").status_code == 404


def test_admin_integration_page_has_a_drift_section_and_a_changelist(
    acme, fake_jira, make_integration, admin_client
):
    jira = make_integration(acme, fake_jira)
    _drift(jira, "ticket_deleted", 1)
    _drift(jira, "ticket_deleted", 2)
    _drift(jira, "finding_closed_ticket_open", 3, repaired=True)
    page = admin_client.get(f"/admin/connectors/integration/{jira.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Drift found by reconciliation" in body
    assert "Ticket deleted</a>: 2 open" in body
    assert "Finding closed, ticket open</a>: 0 open" in body
    listed = admin_client.get(
        "/admin/connectors/drift/", {"integration__id__exact": jira.pk, "open": "yes"}
    )
    assert listed.status_code == 200
    assert "fixops-f-1" in listed.content.decode() and "fixops-f-3" not in listed.content.decode()
