"""Losing the database mid-import (its connection killed: a restart, a failover, a pooler
restart) puts the queued scan back in the queue with its report, for the task to retry; it is
not failed (tests/ops/test_chaos.py does this with real workers and real restarts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection

from apps.findings.models import Finding, Scan, ScanStatus
from apps.findings.scan_queue import scan_claim, scan_release
from apps.pipeline import tasks
from apps.pipeline.ingest import ImportInterrupted, scan_process
from apps.tenants.models import Tenant
from fixops.platform.models import AuditEvent
from tests.findings.reports import many, sarif, upload

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queued_scan(settings, tmp_path, monkeypatch) -> Scan:
    from apps.pipeline.ingest import scan_submit

    settings.FIXOPS_INGEST_ASYNC_BYTES = 10
    settings.FIXOPS_UPLOAD_DIR = tmp_path
    settings.FIXOPS_SCAN_LEASE_SECONDS = 3
    sent: list[dict] = []  # the broker boundary: no broker in this test
    monkeypatch.setattr(tasks.scan_process_task, "delay", lambda **kw: sent.append(kw))
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    scan, _ = scan_submit(tenant=tenant, upload=upload(sarif(many(4))), application_ref="web",
                          create_application=True)  # fmt: skip
    assert scan.status == ScanStatus.QUEUED and sent == [{"scan_id": scan.pk}]
    return scan


def _actions(scan_id: int) -> list[str]:
    rows = AuditEvent.objects.filter(target_type="findings.scan", target_id=str(scan_id))
    return list(rows.order_by("seq").values_list("action", flat=True))


def test_a_killed_connection_releases_the_scan_and_the_retry_imports_it(queued_scan):
    # The import's own session is terminated when it writes its first finding.
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_kill_session() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER test_kill_session BEFORE INSERT ON {Finding._meta.db_table} "
            "FOR EACH ROW EXECUTE FUNCTION test_kill_session()"
        )
    try:
        with pytest.raises(ImportInterrupted):
            scan_process(scan_id=queued_scan.pk)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER test_kill_session ON {Finding._meta.db_table}")
            cursor.execute("DROP FUNCTION test_kill_session()")
    scan = Scan.objects.get(pk=queued_scan.pk)
    assert scan.status == ScanStatus.QUEUED and scan.lease_owner == "" and scan.requeues == 0
    assert scan.error in ({}, None) and Path(scan.upload).is_file()
    assert not Finding.objects.exists()
    assert _actions(scan.pk)[-2:] == ["scan.claim", "scan.release"]

    retried = scan_process(scan_id=scan.pk)  # the task's retry
    assert retried.status == ScanStatus.DONE and Finding.objects.count() == 4


def test_release_needs_the_lease(queued_scan):
    scan_claim(scan_id=queued_scan.pk, owner="worker-a")
    assert scan_release(scan_id=queued_scan.pk, owner="worker-b") is False
    assert Scan.objects.get(pk=queued_scan.pk).status == ScanStatus.PROCESSING
    assert scan_release(scan_id=queued_scan.pk, owner="worker-a") is True
    assert Scan.objects.get(pk=queued_scan.pk).status == ScanStatus.QUEUED
