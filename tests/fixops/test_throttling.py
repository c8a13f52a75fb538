"""API throttling (fixops/platform/api/throttling.py): per credential, per tenant, uploads
only on POST, per integration for inbound webhooks; 429 in the error shape with Retry-After;
counts that hold across processes on Redis.

Limits here are per day: a fixed window that rolled over in the middle of a test (a minute
boundary) would let one more request through; a day boundary is as good as never."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.core.checks import run_checks
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIRequestFactory

from fixops.platform.api.throttling import CredentialRateThrottle, parse_rate

pytestmark = pytest.mark.django_db


def assert_throttled(response) -> None:
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "throttled"
    assert set(error) == {"code", "message", "details", "request_id"}
    wait = error["details"]["retry_after"]
    assert isinstance(wait, int) and 1 <= wait <= 86400
    assert response["Retry-After"] == str(wait)


def test_rates_parse_and_switch_off():
    assert parse_rate("600/min") == (600, 60)
    assert parse_rate("5/s") == (5, 1)
    assert parse_rate("100/hour") == (100, 3600)
    assert parse_rate("10/15m") == (10, 900)
    assert parse_rate("") is None and parse_rate("none") is None and parse_rate(None) is None
    with pytest.raises(ValueError):
        parse_rate("lots")


def test_a_malformed_rate_fails_the_system_check(settings):
    settings.FIXOPS_API_RATE = "600 per minute"
    errors = [e for e in run_checks() if e.id == "fixops.E110"]
    assert errors and "FIXOPS_API_RATE" in errors[0].msg


def test_each_token_has_its_own_api_limit(settings, acme, issue_token, api_client):
    settings.FIXOPS_API_RATE = "3/day"
    first, second = api_client(issue_token(acme)), api_client(issue_token(acme))
    for _ in range(3):
        assert first.get("/api/v1/me/").status_code == 200
    assert_throttled(first.get("/api/v1/me/"))
    assert_throttled(first.get("/api/v1/findings/"))  # every endpoint, one count
    assert second.get("/api/v1/me/").status_code == 200


def test_a_signed_in_user_is_limited_like_a_token(settings, alice):
    from rest_framework.test import APIClient

    settings.FIXOPS_API_RATE = "2/day"
    client = APIClient()
    client.force_login(alice)
    assert [client.get("/api/v1/me/").status_code for _ in range(2)] == [200, 200]
    assert_throttled(client.get("/api/v1/me/"))


def test_the_tenant_limit_counts_all_its_credentials(
    settings, acme, globex, issue_token, api_client
):
    settings.FIXOPS_TENANT_RATE = "4/day"
    ours = [api_client(issue_token(acme)) for _ in range(2)]
    for client in ours:
        assert [client.get("/api/v1/me/").status_code for _ in range(2)] == [200, 200]
    assert_throttled(api_client(issue_token(acme)).get("/api/v1/me/"))
    assert api_client(issue_token(globex)).get("/api/v1/me/").status_code == 200


def test_the_upload_limit_counts_uploads_and_decisions_not_polling(
    settings, acme, issue_token, api_client
):
    settings.FIXOPS_UPLOAD_RATE = "2/day"
    client = api_client(issue_token(acme, role="admin"))
    upload = client.post(
        "/api/v1/scans/",
        {"application": "shop", "file": SimpleUploadedFile("r.sarif", b'{"version": "2.1.0"}')},
        format="multipart",
    )
    assert upload.status_code != 429
    decision = client.post("/api/v1/decisions/", {"application": "nope"}, format="json")
    assert decision.status_code == 404  # counted, then refused by the view
    assert_throttled(client.post("/api/v1/decisions/", {"application": "x"}, format="json"))
    # Status polling and every other endpoint stay open.
    for _ in range(5):
        assert client.get("/api/v1/scans/").status_code == 200
        assert client.get("/api/v1/decisions/").status_code == 200
    assert client.post("/api/v1/applications/", {"name": "web"}, format="json").status_code == 201


@pytest.mark.urls("tests.fixops.throttle_urls")
def test_inbound_webhooks_are_limited_per_integration(settings, client):
    settings.FIXOPS_WEBHOOK_RATE = "2/day"
    assert [client.post("/hooks/7/").status_code for _ in range(2)] == [200, 200]
    assert_throttled(client.post("/hooks/7/"))
    assert client.post("/hooks/8/").status_code == 200


def test_a_rate_of_none_switches_the_limit_off(settings, acme_viewer):
    settings.FIXOPS_API_RATE = "none"
    assert all(acme_viewer.get("/api/v1/me/").status_code == 200 for _ in range(30))


@pytest.mark.services
def test_redis_counts_hold_across_concurrent_workers(settings, redis_url, acme, issue_token):
    """Eight threads with their own Redis connections stand in for gunicorn workers: the
    limit lets exactly `rate` requests through, none lost to a race."""
    from apps.tenants.selectors import api_token_list

    settings.CACHES = {
        **settings.CACHES,
        "throttle": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            # Redis outlives the test database: a token id seen by an earlier run today
            # must not find that run's count.
            "KEY_PREFIX": uuid.uuid4().hex,
        },
    }
    settings.FIXOPS_THROTTLE_CACHE = "throttle"
    settings.FIXOPS_API_RATE = "100/day"
    issue_token(acme)
    token = api_token_list(tenant=acme).first()
    request = APIRequestFactory().get("/api/v1/me/")
    request.auth = token
    request.user = None
    allowed = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            ok = CredentialRateThrottle().allow_request(request, view=None)
            with lock:
                allowed.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 200 and allowed.count(True) == 100
    refused = CredentialRateThrottle()
    assert refused.allow_request(request, view=None) is False
    assert 0 < refused.wait() <= 86400
