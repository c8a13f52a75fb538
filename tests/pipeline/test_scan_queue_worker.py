"""Queued imports with real Celery worker processes on Redis: a worker SIGKILLed in the middle
of an import leaves the scan under its lease; a delivery while the lease is live does nothing;
once it lapses the sweeper re-queues the scan and another worker imports it, exactly once."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.findings.models import Finding, Occurrence, Scan, ScanStatus
from apps.findings.scan_queue import scan_queue, scan_requeue
from tests.connectors.workers import wait_until
from tests.findings.factories import ApplicationFactory
from tests.findings.reports import many, sarif

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.django_db(transaction=True)]
RESULTS = 20000  # an import of a few seconds


def _status() -> str:
    return Scan.objects.get().status


def _reports(tmp_path) -> list:
    return list((tmp_path / "uploads").rglob("*.report"))


def test_killed_worker_mid_import_then_sweeper_and_a_new_worker_import_it_once(
    broker, settings, tmp_path
):
    settings.FIXOPS_UPLOAD_DIR = tmp_path / "uploads"
    app = ApplicationFactory()
    content = sarif(many(RESULTS))
    scan = scan_queue(
        scan=Scan(
            tenant=app.tenant,
            application=app,
            sha256=hashlib.sha256(content).hexdigest(),
            size_bytes=len(content),
            format="sarif",
        ),
        upload=SimpleUploadedFile("big.sarif", content),
    )
    task = "fixops.findings.scan_process"
    lease = {"FIXOPS_SCAN_LEASE_SECONDS": 3}
    first = broker.worker(tmp_path, "first", **lease).start()
    try:
        broker.app.send_task(task, kwargs={"scan_id": scan.pk}, queue=broker.queue)
        # Killed as soon as it is seen claimed: the import of RESULTS takes seconds, polling
        # every 50 ms, so the kill lands inside it however fast the machine is.
        assert wait_until(lambda: _status() == ScanStatus.PROCESSING, 60, interval=0.05)
    finally:
        first.kill()
    killed = Scan.objects.get()
    assert killed.status == ScanStatus.PROCESSING, "the kill should land inside the import"
    assert not Finding.objects.exists(), "the killed import committed nothing"
    second = broker.worker(tmp_path, "second", **lease).start()
    try:
        # The sweeper leaves a live lease alone, then re-queues the scan once it lapses and
        # sends the task again (as scans_sweep does, here to the test's queue).
        # Up to 90 s, though the lease is 3 s: the sweeper also needs PostgreSQL to have ended
        # the killed import's transaction, and both take longer on a loaded machine.
        requeued = wait_until(lambda: scan_requeue(scan_id=scan.pk) == "requeued", 90, interval=0.5)
        assert requeued, Scan.objects.values("status", "lease_owner", "lease_expires_at").get()
        broker.app.send_task(task, kwargs={"scan_id": scan.pk}, queue=broker.queue)
        broker.app.send_task(task, kwargs={"scan_id": scan.pk}, queue=broker.queue)  # twice
        # Done means the import committed and then (on commit) deleted its report: the worker
        # is stopped only after both, or its SIGTERM could end the task between the two.
        done = wait_until(
            lambda: _status() == ScanStatus.DONE and not _reports(tmp_path), 120, interval=0.5
        )
    finally:
        second.stop()
    assert done, second.output()[-3000:]
    imported = Scan.objects.get()
    assert imported.requeues == 1 and imported.counts["findings_new"] == RESULTS
    assert Finding.objects.count() == RESULTS and Occurrence.objects.count() == RESULTS
    assert imported.upload == "" and not _reports(tmp_path)
