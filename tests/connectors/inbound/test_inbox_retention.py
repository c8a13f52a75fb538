"""Retention of the inbox: finished deliveries older than the tenant's
`inbox_deliveries_days` go; pending ones and other tenants' stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.connectors.models import DeliveryStatus, InboundDelivery, Integration
from apps.pipeline.retention import retention_apply
from apps.tenants.retention import retention_update

pytestmark = pytest.mark.django_db


def _deliveries(tenant, *rows):
    integration = Integration.objects.create(
        tenant=tenant, kind="jira", name=f"{tenant.slug}-jira", base_url="https://j.example"
    )
    for n, (status, age_days) in enumerate(rows):
        InboundDelivery.objects.create(
            tenant=tenant,
            integration=integration,
            delivery_id=f"d{n}",
            body=b"{}",
            status=status,
            received_at=timezone.now() - timedelta(days=age_days),
        )


def test_old_finished_deliveries_are_purged(acme, globex):
    old = 40
    _deliveries(
        acme,
        (DeliveryStatus.APPLIED, old),
        (DeliveryStatus.IGNORED, old),
        (DeliveryStatus.FAILED, old),
        (DeliveryStatus.PENDING, old),  # still to apply: kept whatever its age
        (DeliveryStatus.APPLIED, 1),
    )
    _deliveries(globex, (DeliveryStatus.APPLIED, old))
    retention_update(tenant=globex, actor="user:ops", inbox_deliveries_days=0)  # forever
    report = retention_apply()
    assert report["acme"]["inbox_deliveries_days"] == 3
    kept = set(InboundDelivery.objects.filter(tenant=acme).values_list("status", flat=True))
    assert kept == {DeliveryStatus.PENDING, DeliveryStatus.APPLIED}
    assert InboundDelivery.objects.filter(tenant=globex).count() == 1
