"""The connectors admin: integrations with health and write-only credentials, the outbox
with filters, attempts, replay and cancel; staff see only their tenants' rows."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from apps.connectors import drain
from apps.connectors.models import Integration, MessageStatus, OutboxMessage
from fixops.platform.http import breaker
from tests.connectors.factories import enqueue_tickets

pytestmark = pytest.mark.django_db


def _rows(integration_id: int):
    return Integration.objects.filter(pk=integration_id)


def _enabled():
    return Integration.objects.filter(enabled=True)


@pytest.fixture
def staff(alice):
    alice.is_staff = True
    alice.save()
    alice.user_permissions.set(Permission.objects.filter(content_type__app_label="connectors"))
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def jira(acme, fake_jira, make_integration):
    return make_integration(acme, fake_jira, name="acme-jira")


def _form(fake, acme, **overrides) -> dict:
    config = fake.config()
    return {
        "tenant": acme.pk,
        "name": "from-admin",
        "base_url": config["base_url"],
        **{f"credentials__{k}": v for k, v in config["credentials"].items()},
        **{f"settings__{k}": v for k, v in config["settings"].items()},
        "min_severity": "high",
        "min_risk": "",
        "grouping": "finding",
        "templates": "{}",
        "enabled": "on",
        **overrides,
    }


def test_integration_pages_show_health_and_never_the_credentials(staff, jira, fake_jira, globex):
    other = Integration(tenant=globex, kind="gitlab", name="globex-gitlab", base_url="https://x.io")
    other.credentials = {"token": "t"}
    other.save()
    enqueue_tickets(jira, 2)
    for _ in range(5):
        breaker.record_failure(_rows(jira.pk), "vendor down")
    page = staff.get("/admin/connectors/integration/").content.decode()
    assert "acme-jira" in page and "globex-gitlab" not in page
    assert "Open (vendor failing; waiting)" in page
    detail = staff.get(f"/admin/connectors/integration/{jira.pk}/change/").content.decode()
    assert "vendor down" in detail and fake_jira.api_token not in detail


def test_adding_an_integration_in_the_admin_goes_through_the_checks(staff, acme, fake_jira):
    add = "/admin/connectors/integration/add/?kind=jira"
    response = staff.post(add, _form(fake_jira, acme))
    assert response.status_code == 302, response.content.decode()[-2000:]
    created = Integration.objects.get(name="from-admin")
    assert created.kind == "jira"
    assert created.credentials == fake_jira.config()["credentials"]
    assert created.settings == fake_jira.config()["settings"]
    refused = staff.post(
        add, _form(fake_jira, acme, name="metadata", base_url="http://169.254.169.254/")
    )
    assert refused.status_code == 200 and "metadata address" in refused.content.decode()
    no_credentials = staff.post(add, _form(fake_jira, acme, credentials__api_token=""))
    assert "missing api_token" in no_credentials.content.decode()
    # Editing without the secret keeps the stored one.
    response = staff.post(
        f"/admin/connectors/integration/{created.pk}/change/",
        _form(fake_jira, acme, credentials__api_token="", min_severity="critical"),
    )
    assert response.status_code == 302
    created.refresh_from_db()
    assert created.min_severity == "critical"
    assert created.credentials == fake_jira.config()["credentials"]


def test_integration_actions_test_sync_and_reset(staff, jira, fake_jira):
    enqueue_tickets(jira, 1)
    for _ in range(5):
        breaker.record_failure(_rows(jira.pk), "vendor down")
    url = "/admin/connectors/integration/"
    page = staff.post(
        url, {"action": "test_connection", "_selected_action": [jira.pk]}, follow=True
    ).content.decode()
    assert "jane@acme.test" in page
    staff.post(url, {"action": "reset_breaker", "_selected_action": [jira.pk]})
    jira.refresh_from_db()
    assert jira.breaker_state == "closed"
    page = staff.post(
        url, {"action": "sync_now", "_selected_action": [jira.pk]}, follow=True
    ).content.decode()
    assert "&#x27;delivered&#x27;: 1" in page
    assert len(fake_jira.state["issues"]) == 1


def test_outbox_list_filters_detail_replay_and_cancel(staff, jira, fake_jira):
    enqueue_tickets(jira, 3)
    fake_jira.fail_next(1, 400)
    drain.drain(budget_seconds=10, batch_size=1)
    dead = OutboxMessage.objects.get(status=MessageStatus.DEAD)
    OutboxMessage.objects.filter(status=MessageStatus.DELIVERED).update(
        status=MessageStatus.PENDING
    )
    page = staff.get("/admin/connectors/outboxmessage/", {"status__exact": "dead"})
    assert dead.reference in page.content.decode()
    for query in ({"age": "1h"}, {"kind__exact": "upsert"}, {"integration__id__exact": jira.pk}):
        assert staff.get("/admin/connectors/outboxmessage/", query).status_code == 200
    detail = staff.get(f"/admin/connectors/outboxmessage/{dead.pk}/change/").content.decode()
    assert "HTTP 400" in detail or "400" in detail  # the attempt with the vendor's answer
    staff.post(
        "/admin/connectors/outboxmessage/",
        {"action": "replay", "_selected_action": [dead.pk]},
    )
    dead.refresh_from_db()
    assert dead.status == MessageStatus.PENDING and dead.attempts == 0
    pending = list(OutboxMessage.objects.values_list("pk", flat=True))
    response = staff.post(
        "/admin/connectors/outboxmessage/",
        {"action": "cancel", "_selected_action": pending},
        follow=True,
    )
    assert OutboxMessage.objects.filter(status=MessageStatus.DEAD).count() == 3
    assert "cancelled" in response.content.decode()
    response = staff.post(
        "/admin/connectors/outboxmessage/",
        {"action": "cancel", "_selected_action": pending},
        follow=True,
    )
    assert "Only pending or failed" in response.content.decode()
    links = staff.get("/admin/connectors/externallink/")
    assert links.status_code == 200


def test_deleting_an_integration_in_the_admin_goes_through_the_service(staff, jira):
    """Audited as integration.delete, like the API's delete, not as a bare admin row."""
    from fixops.platform.models import AuditEvent

    url = f"/admin/connectors/integration/{jira.pk}/delete/"
    assert staff.post(url, {"post": "yes"}).status_code == 302
    assert not Integration.objects.filter(pk=jira.pk).exists()
    event = AuditEvent.objects.get(action="integration.delete", target_id=str(jira.pk))
    assert event.actor == "user:alice" and event.before["name"] == "acme-jira"
    assert not AuditEvent.objects.filter(action="admin.delete").exists()
