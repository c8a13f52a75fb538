"""Integration and outbox changes are audited with what changed, never the credentials."""

from __future__ import annotations

import pytest

from apps.connectors.models import MessageStatus, OutboxMessage
from fixops.platform.audit import audit_chain_walk
from fixops.platform.models import AuditEvent
from tests.connectors.factories import enqueue_tickets
from tests.connectors.test_integrations_api import _body

pytestmark = pytest.mark.django_db


def _rows(tenant, **filters):
    return list(
        AuditEvent.objects.filter(tenant_id=tenant.pk, **filters)
        .order_by("seq")
        .values("action", "actor", "target_id", "before", "after")
    )


def test_integration_life_is_audited_without_credentials(acme, acme_admin, fake_jira):
    created = acme_admin.post("/api/v1/integrations/", _body(fake_jira), format="json").json()
    url = f"/api/v1/integrations/{created['id']}/"
    new_credentials = {**fake_jira.config()["credentials"], "api_token": "rotated-s3cret"}
    changed = acme_admin.patch(
        url, {"min_severity": "critical", "credentials": new_credentials}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert acme_admin.delete(url).status_code == 204
    rows = _rows(acme, target_type="connectors.integration")
    assert [r["action"] for r in rows] == [
        "integration.create",
        "integration.update",
        "integration.delete",
    ]
    assert all(r["target_id"] == str(created["id"]) for r in rows)
    assert all(r["actor"].startswith("token:") for r in rows)
    assert rows[1]["after"]["fields"] == ["credentials", "min_severity"]
    stored = str(list(AuditEvent.objects.values_list("before", "after")))
    assert fake_jira.api_token not in stored and "rotated-s3cret" not in stored
    assert audit_chain_walk(tenant_id=acme.pk).problems == []


def test_outbox_replay_and_cancel_are_audited(acme, acme_admin, fake_jira, make_integration):
    jira = make_integration(acme, fake_jira)
    enqueue_tickets(jira, 1)
    message = OutboxMessage.objects.get()
    OutboxMessage.objects.filter(pk=message.pk).update(status=MessageStatus.DEAD)
    assert acme_admin.post(f"/api/v1/outbox/{message.pk}/replay/").status_code == 200
    assert acme_admin.post(f"/api/v1/outbox/{message.pk}/cancel/").status_code == 200
    rows = _rows(acme, target_type="connectors.outboxmessage")
    assert [(r["action"], r["before"], r["after"]["status"]) for r in rows] == [
        ("outbox.replay", {"status": "dead"}, "pending"),
        ("outbox.cancel", {"status": "pending"}, "dead"),
    ]
