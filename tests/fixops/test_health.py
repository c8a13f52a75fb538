"""/healthz and /readyz."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from fixops.models import Heartbeat
from fixops.services import heartbeat_record

pytestmark = pytest.mark.django_db


def test_healthz_needs_nothing():
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_reports_database_broker_and_beat(settings, tmp_path):
    response = Client().get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["database"] == {
        **body["checks"]["database"],
        "ok": True,
        "vendor": "postgresql",
    }
    assert body["checks"]["broker"]["ok"] is True
    assert body["checks"]["beat"]["status"] == "never"
    assert body["status"] == "degraded"


def test_readyz_is_ok_after_a_heartbeat():
    heartbeat_record()
    body = Client().get("/readyz").json()
    assert body["status"] == "ok"
    assert body["checks"]["beat"]["beats"] == 1


def test_stale_beat_degrades_but_stays_ready(settings):
    heartbeat_record()
    Heartbeat.objects.update(last_seen=timezone.now() - timedelta(hours=1))
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["beat"]["status"] == "stale"
    assert response.json()["status"] == "degraded"


def test_unreachable_broker_is_503():
    from fixops.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = Client().get("/readyz")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"]["ok"] is False and "error" in body["checks"]["broker"]


def test_heartbeat_counts_beats():
    heartbeat_record()
    heartbeat_record()
    assert Heartbeat.objects.get(source="beat").beats == 2
