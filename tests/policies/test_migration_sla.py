"""The SLA migration (policies 0002): each tenant's old PolicySettings.sla_days and
sla_restart_on_expiry become its findings SlaPolicy, and existing findings get their due_at."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from apps.findings.models import Finding, SlaPolicy

BEFORE = [("findings", "0010_scan_queue_lease"), ("policies", "0001_initial")]


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.fixture
def old_schema(transactional_db):
    migrate(BEFORE)
    try:
        yield MigrationExecutor(connection).loader.project_state(BEFORE).apps
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_old_sla_settings_move_to_the_sla_policy(old_schema):
    apps = old_schema
    Tenant = apps.get_model("tenants", "Tenant")
    seen = timezone.now() - timedelta(days=5)

    def finding(tenant, severity, **extra):
        app = apps.get_model("findings", "Application").objects.create(
            tenant=tenant, name=f"{tenant.slug}-{severity}"
        )
        return apps.get_model("findings", "Finding").objects.create(
            tenant=tenant, application=app, dedup_key=severity, dedup_strategy="x", kind="sast",
            severity=severity, tool="t", rule_id="r", title="t", first_seen=seen, **extra,
        ).pk  # fmt: skip

    strict = Tenant.objects.create(slug="strict", name="Strict")
    apps.get_model("policies", "PolicySettings").objects.create(
        tenant=strict, sla_days={"critical": 2, "high": 10}, sla_restart_on_expiry=False
    )
    plain = Tenant.objects.create(slug="plain", name="Plain")
    critical, low = finding(strict, "critical"), finding(strict, "low")
    high = finding(plain, "high", status="risk_accepted")

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    policy = SlaPolicy.objects.get(tenant_id=strict.pk)
    assert (policy.days, policy.restart_on_expiry) == ({"critical": 2, "high": 10}, False)
    assert not SlaPolicy.objects.filter(tenant_id=plain.pk).exists()  # defaults apply
    due = dict(Finding.objects.values_list("pk", "due_at"))
    assert due[critical] == seen + timedelta(days=2)
    assert due[low] is None  # the tenant gave low no deadline
    assert due[high] == seen + timedelta(days=30)  # the default for high
    assert Finding.objects.get(pk=high).sla_paused_at is not None  # accepted: clock paused
    # The critical was overdue before the migration: backlog, not a breach to announce.
    assert Finding.objects.get(pk=critical).sla_breach_announced == due[critical]
