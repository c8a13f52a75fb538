"""/healthz and /readyz: what a probe sees, and what only monitoring or a signed-in caller sees."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.tenants.models import ApiToken
from fixops.models import Heartbeat
from fixops.services import heartbeat_record

pytestmark = pytest.mark.django_db

PROBE_TOKEN = "probe-0123456789abcdef"  # noqa: S105 - a test value


@pytest.fixture(autouse=True)
def probe_token(settings):
    settings.FIXOPS_PROBE_TOKEN = PROBE_TOKEN


def monitor() -> Client:
    """The monitoring system: sends the probe token."""
    return Client(HTTP_AUTHORIZATION=f"Bearer {PROBE_TOKEN}")


def test_healthz_needs_nothing():
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_reports_database_broker_and_beat(settings, tmp_path):
    response = monitor().get("/readyz")
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
    body = monitor().get("/readyz").json()
    assert body["status"] == "ok"
    assert body["checks"]["beat"]["beats"] == 1


def test_stale_beat_degrades_but_stays_ready(settings):
    heartbeat_record()
    Heartbeat.objects.update(last_seen=timezone.now() - timedelta(hours=1))
    response = monitor().get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["beat"]["status"] == "stale"
    assert response.json()["status"] == "degraded"


def test_unreachable_broker_is_503(broker_down):
    response = monitor().get("/readyz")
    anonymous = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"]["ok"] is False and "error" in body["checks"]["broker"]
    # A probe without credentials gets the same status code, and nothing else.
    assert anonymous.status_code == 503 and anonymous.json() == {"status": "unavailable"}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong-probe-token",
        f"Bearer {PROBE_TOKEN}x",
        f"Basic {PROBE_TOKEN}",
        "Bearer fxo_abc_notatoken",
        "Bearer",
    ],
)
def test_readyz_tells_an_anonymous_caller_only_the_status(authorization):
    heartbeat_record()
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = Client().get("/readyz", **headers)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert b"postgresql" not in response.content


def test_readyz_without_a_probe_token_configured_refuses_an_empty_bearer(settings):
    settings.FIXOPS_PROBE_TOKEN = ""
    response = Client(HTTP_AUTHORIZATION="Bearer ").get("/readyz")
    assert response.json() == {"status": "degraded"}


def test_readyz_details_for_an_api_token_and_a_signed_in_user(acme, issue_token, alice):
    token = issue_token(acme, role="viewer")
    by_token = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/readyz").json()
    assert by_token["checks"]["database"]["vendor"] == "postgresql"
    session = Client()
    session.force_login(alice)
    assert session.get("/readyz").json()["checks"]["broker"]["ok"] is True


def test_revoked_api_token_sees_only_the_status(acme, issue_token):
    token = issue_token(acme, role="admin")
    ApiToken.objects.update(revoked_at=timezone.now())
    body = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/readyz").json()
    assert body == {"status": "degraded"}


def test_heartbeat_counts_beats():
    heartbeat_record()
    heartbeat_record()
    assert Heartbeat.objects.get(source="beat").beats == 2
