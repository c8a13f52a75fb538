"""A real Celery worker on the Redis broker runs our task; beat's schedule is in the database."""

from __future__ import annotations

import time
import uuid
from io import StringIO

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from django.apps import apps as django_apps
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from fixops.celery import app
from fixops.models import Heartbeat


@pytest.fixture
def redis_celery(redis_url):
    """A Celery app configured like ours (same settings, same tasks) but on the Redis broker."""
    redis_app = Celery("fixops-redis-test", set_as_current=False)
    redis_app.config_from_object("django.conf:settings", namespace="CELERY")
    redis_app.conf.broker_url = redis_url
    redis_app.conf.broker_transport_options = {"visibility_timeout": 60}
    # A queue of its own: a suite running beside this one (or another xdist worker, whose
    # tasks would write to its own test database) never takes these tasks.
    redis_app.conf.task_default_queue = f"fixops-test-{uuid.uuid4().hex[:8]}"
    redis_app.autodiscover_tasks([c.name for c in django_apps.get_app_configs()], force=True)
    yield redis_app
    redis_app.close()


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_heartbeat_runs_through_a_worker_on_redis(redis_celery):
    with start_worker(
        redis_celery, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10
    ):
        redis_celery.tasks["fixops.heartbeat"].delay(source="worker-test")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if Heartbeat.objects.filter(source="worker-test").exists():
                break
            time.sleep(0.2)
    row = Heartbeat.objects.get(source="worker-test")
    assert row.beats == 1 and row.hostname


@pytest.mark.django_db
def test_sync_schedules_registers_the_heartbeat_with_beat(settings):
    call_command("sync_schedules", stdout=StringIO())
    task = PeriodicTask.objects.get(name="platform heartbeat")
    assert task.task == "fixops.heartbeat"
    assert task.interval.every == settings.FIXOPS_HEARTBEAT_SECONDS
    assert task.enabled
    scheduler = DatabaseScheduler(app=app, lazy=True)
    entry = scheduler.all_as_schedule()["platform heartbeat"]
    assert entry.task == "fixops.heartbeat"
    assert entry.schedule.run_every.total_seconds() == settings.FIXOPS_HEARTBEAT_SECONDS


@pytest.mark.django_db
def test_sync_schedules_is_idempotent_and_keeps_admin_edits():
    call_command("sync_schedules", stdout=StringIO())
    PeriodicTask.objects.filter(name="platform heartbeat").update(enabled=False)
    PeriodicTask.objects.create(
        name="added by an admin",
        task="fixops.heartbeat",
        interval=PeriodicTask.objects.get(name="platform heartbeat").interval,
    )
    out = StringIO()
    call_command("sync_schedules", stdout=out)
    assert "updated: platform heartbeat" in out.getvalue()
    assert PeriodicTask.objects.filter(name="platform heartbeat").count() == 1
    assert PeriodicTask.objects.get(name="platform heartbeat").enabled is False
    assert PeriodicTask.objects.filter(name="added by an admin").exists()


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_queued_scan_is_imported_by_a_worker_on_redis(redis_celery, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.findings.models import Finding, Scan
    from apps.pipeline.ingest import scan_submit
    from tests.findings.factories import ApplicationFactory
    from tests.findings.reports import many, sarif

    settings.FIXOPS_INGEST_ASYNC_BYTES = 10
    settings.FIXOPS_UPLOAD_DIR = tmp_path
    app = ApplicationFactory()
    upload = SimpleUploadedFile("r.sarif", sarif(many(5)))
    scan, _ = scan_submit(tenant=app.tenant, application=app, upload=upload, branch="main")
    assert scan.status == "queued" and not Finding.objects.exists()
    with start_worker(
        redis_celery, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10
    ):
        redis_celery.tasks["fixops.findings.scan_process"].delay(scan_id=scan.pk)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if Scan.objects.get(pk=scan.pk).status == "done":
                break
            time.sleep(0.2)
    scan.refresh_from_db()
    assert scan.status == "done" and scan.counts["findings_new"] == 5
    assert Finding.objects.filter(application=app).count() == 5
