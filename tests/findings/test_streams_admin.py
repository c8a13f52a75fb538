"""Targets in the admin: the scan list's target column and filter, the streams and their
Retire action (analyst or above, only in the analyst's tenants); the stale-streams beat task."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.findings.models import Finding, Stream
from apps.findings.tasks import retire_stale_streams_task
from apps.pipeline.ingest import scan_submit
from fixops.celery import app as celery_app
from fixops.schedules import schedules
from tests.findings.factories import ApplicationFactory
from tests.findings.services.test_streams import LOG4J, LOG4SHELL, trivy
from tests.tenants.test_admin_roles import staff

pytestmark = pytest.mark.django_db


def _scanned(tenant, image: str):
    app = ApplicationFactory(tenant=tenant, name=f"shop-{tenant.slug}")
    upload = SimpleUploadedFile("t.json", trivy(image, (LOG4SHELL, LOG4J)))
    scan_submit(tenant=tenant, application=app, upload=upload, branch="main")
    return app


def test_scan_list_shows_and_filters_targets(acme):
    _scanned(acme, "acme/api:1.0")
    analyst = staff("ana", acme="analyst")
    listing = analyst.get("/admin/findings/scan/").content.decode()
    assert "acme/api" in listing
    assert analyst.get("/admin/findings/scan/", {"target__isempty": "1"}).status_code == 200
    streams = analyst.get("/admin/findings/stream/").content.decode()
    assert "acme/api" in streams


def test_retire_action_needs_the_analyst_role_in_the_row_tenant(acme, globex):
    _scanned(acme, "acme/api:1.0")
    _scanned(globex, "globex/api:1.0")
    mixed = staff("max", acme="analyst", globex="viewer")
    ids = list(Stream.objects.values_list("pk", flat=True))
    mixed.post("/admin/findings/stream/", {"action": "retire_streams", "_selected_action": ids})
    assert Finding.objects.get(tenant=acme).status == "fixed"
    assert Finding.objects.get(tenant=globex).status == "open"
    assert Stream.objects.get(tenant=acme).retired_at is not None
    assert Stream.objects.get(tenant=globex).retired_at is None


def test_stale_streams_are_retired_by_a_scheduled_task(db):
    task = "fixops.findings.retire_stale_streams"
    (entry,) = [s for s in schedules() if s.task == task]
    assert entry.crontab and task in celery_app.tasks
    assert retire_stale_streams_task() == {
        "streams": 0,
        "occurrences_retracted": 0,
        "findings_closed": 0,
    }
