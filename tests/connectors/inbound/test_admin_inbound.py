"""The admin's inbound surface: the webhook URL on the integration page, the rotation page
that shows the new secret once, and the inbox list where failed deliveries are retried."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from apps.connectors.models import DeliveryStatus, InboundDelivery, Integration
from fixops.platform.models import AuditEvent

pytestmark = pytest.mark.django_db


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


def test_page_shows_the_url_and_rotation_shows_the_secret_once(staff, jira):
    page = staff.get(f"/admin/connectors/integration/{jira.pk}/change/").content.decode()
    assert f"/hooks/{jira.public_id}/" in page and "Rotate webhook secret" in page
    assert jira.webhook_secret not in page
    answer = staff.post(f"/admin/connectors/integration/{jira.pk}/rotate-webhook-secret/")
    assert answer.status_code == 200 and "no-store" in answer["Cache-Control"]
    secret = Integration.objects.get(pk=jira.pk).webhook_secret
    assert secret != jira.webhook_secret and secret in answer.content.decode()
    assert AuditEvent.objects.filter(action="integration.rotate_webhook_secret").count() == 1
    again = staff.get(f"/admin/connectors/integration/{jira.pk}/change/").content.decode()
    assert secret not in again


def test_failed_deliveries_are_listed_and_retried(staff, jira):
    failed = InboundDelivery.objects.create(
        tenant=jira.tenant,
        integration=jira,
        delivery_id="d-1",
        body=b"{}",
        status=DeliveryStatus.FAILED,
        attempts=8,
        error="boom",
    )
    listing = staff.get("/admin/connectors/inbounddelivery/?status=failed").content.decode()
    assert "d-1" in listing and "boom" in listing
    staff.post(
        "/admin/connectors/inbounddelivery/",
        {"action": "retry", "_selected_action": [failed.pk]},
    )
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (DeliveryStatus.PENDING, 0)
    assert AuditEvent.objects.filter(action="inbound_delivery.retry").exists()
