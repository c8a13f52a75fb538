"""Evidence admin: the audit log and bundles are read-only; the GRC export action; retention
settings changes are audited."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from apps.evidence.models import EvidenceSettings
from fixops.platform.models import AuditEvent
from tests.evidence.factories import make_bundle, make_decision

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_alice(alice):
    alice.is_staff = True
    alice.save()
    alice.user_permissions.set(Permission.objects.filter(content_type__app_label="evidence"))
    client = Client()
    client.force_login(alice)
    return client


def test_export_action_and_read_only_pages(staff_alice, acme, globex, evidence_settings):
    mine = make_bundle(make_decision(acme))
    theirs = make_bundle(make_decision(globex))
    page = staff_alice.get("/admin/evidence/evidencebundle/")
    assert page.status_code == 200
    assert f"evidence of decision {mine.decision_id}" in page.content.decode()
    assert f"evidence of decision {theirs.decision_id}<" not in page.content.decode()
    response = staff_alice.post(
        "/admin/evidence/evidencebundle/",
        {"action": "export_bundles", "_selected_action": [mine.pk]},
    )
    assert response["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert f"bundles/decision-{mine.decision_id}.dsse.json" in names
    assert staff_alice.get(f"/admin/evidence/evidencebundle/{mine.pk}/delete/").status_code == 403
    assert staff_alice.get("/admin/platform/auditevent/add/").status_code == 403
    assert staff_alice.get("/admin/evidence/evidencekey/").status_code == 200


def test_export_action_refuses_mixed_tenants(admin_client, acme, globex, evidence_settings):
    ids = [make_bundle(make_decision(t)).pk for t in (acme, globex)]
    response = admin_client.post(
        "/admin/evidence/evidencebundle/",
        {"action": "export_bundles", "_selected_action": ids},
        follow=True,
    )
    assert "one tenant per export" in response.content.decode()


def test_retention_change_is_audited(staff_alice, acme, globex):
    response = staff_alice.post(
        "/admin/evidence/evidencesettings/add/",
        {"tenant": acme.pk, "retention_days": 400, "lock_mode": "governance"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    row = EvidenceSettings.objects.get(tenant=acme)
    event = AuditEvent.objects.get(tenant_id=acme.pk, action="evidence.settings_changed")
    assert event.before is None and event.after == {
        "retention_days": 400,
        "lock_mode": "governance",
    }
    assert event.actor == "user:alice" and event.target_id == str(row.pk)
    refused = staff_alice.post(
        "/admin/evidence/evidencesettings/add/",
        {"tenant": globex.pk, "retention_days": 1, "lock_mode": "governance"},
    )
    assert refused.status_code in (200, 403)
    assert not EvidenceSettings.objects.filter(tenant=globex).exists()
