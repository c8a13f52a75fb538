"""/metrics: who may scrape it, what the web process counts (requests by route, imports,
decisions, Celery tasks) and the database gauges read at scrape time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import resolve
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from apps.connectors.models import Integration, OutboxMessage
from apps.connectors.services import integration_create
from apps.intel.models import FeedStatus
from apps.pipeline.ingest import scan_submit
from fixops import observability
from fixops.models import Heartbeat
from fixops.tasks import heartbeat_task as heartbeat
from tests.connectors.factories import enqueue_tickets
from tests.fakes.jira import FakeJira
from tests.findings.reports import many, sarif, upload

pytestmark = pytest.mark.django_db


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def jira_integration(tenant) -> Integration:
    with FakeJira() as jira:
        config = jira.config()
    return integration_create(
        tenant=tenant,
        kind=config["kind"],
        name="jira",
        base_url=config["base_url"],
        credentials=config["credentials"],
        settings=config["settings"],
    )


@pytest.fixture(autouse=True)
def fresh_gauges(settings):
    settings.FIXOPS_METRICS_CACHE_SECONDS = 0
    observability._collector._at = float("-inf")


def test_only_the_allowlist_or_the_token_may_scrape(client, settings):
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    outsider = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", **outsider).status_code == 404
    settings.FIXOPS_METRICS_TOKEN = "scrape-secret"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong", **outsider).status_code == 404
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret", **outsider)
    assert ok.status_code == 200
    settings.FIXOPS_METRICS_ALLOWLIST = []
    settings.FIXOPS_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404  # loopback too, once the list is emptied


def test_requests_are_counted_by_url_pattern_not_path(client, acme_viewer):
    route = resolve("/api/v1/findings/987654/").route
    assert "<" in route  # a pattern, e.g. api/v1/findings/<int:finding_id>/
    pattern = {"route": route, "method": "GET", "status": "404"}
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    name = "fixops_http_requests_total"
    before = scrape(client)
    acme_viewer.get("/api/v1/findings/987654/")
    acme_viewer.get("/api/v1/findings/123456/")
    client.get("/no/such/page/4242")
    after = scrape(client)
    routes = {dict(labels)["route"] for (n, labels) in after if n == name}
    assert not any("987654" in r or "4242" in r for r in routes)
    assert value(after, name, **pattern) - value(before, name, **pattern) == 2
    assert value(after, name, **unmatched) - value(before, name, **unmatched) == 1
    latency = "fixops_http_request_duration_seconds_count"
    assert value(after, latency, route=route, method="GET") >= 2


def test_imports_replays_refusals_and_decisions_are_counted(
    client, acme, acme_analyst, django_capture_on_commit_callbacks
):
    before = scrape(client)
    report = sarif(many(3))
    with django_capture_on_commit_callbacks(execute=True):
        scan_submit(
            tenant=acme, upload=upload(report), application_ref="shop", create_application=True
        )
        scan_submit(tenant=acme, upload=upload(report), application_ref="shop")
        refused = acme_analyst.post(
            "/api/v1/scans/",
            {
                "file": upload(b'{"version": "2.1.0", "runs": 7}'),
                "application": "shop",
                "format": "sarif",
            },
            format="multipart",
        )
        assert refused.status_code == 400
        decided = acme_analyst.post("/api/v1/decisions/", {"application": "shop"}, format="json")
        assert decided.status_code == 201, decided.content
    after = scrape(client)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("fixops_scans_total", format="sarif", outcome="imported") == 1
    assert grew("fixops_scans_total", format="sarif", outcome="replayed") == 1
    assert grew("fixops_scans_total", format="sarif", outcome="refused") == 1
    assert grew("fixops_ingest_results_total", format="sarif", outcome="findings") == 3
    assert grew("fixops_import_duration_seconds_count", format="sarif") == 1
    outcome = decided.json()["outcome"]
    assert grew("fixops_decisions_total", outcome=outcome) == 1
    assert grew("fixops_decision_duration_seconds_count") == 1


def test_a_rolled_back_import_is_not_counted_as_imported(
    client, acme, django_capture_on_commit_callbacks
):
    before = scrape(client)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        scan_submit(
            tenant=acme,
            upload=upload(sarif(many(2))),
            application_ref="shop",
            create_application=True,
        )
    assert callbacks  # recorded only once the import commits, which this one never did
    after = scrape(client)
    key = {"format": "sarif", "outcome": "imported"}
    assert value(after, "fixops_scans_total", **key) == value(before, "fixops_scans_total", **key)


def test_celery_task_runs_and_failures_are_counted(client):
    before = scrape(client)
    heartbeat.apply(kwargs={"source": "metrics-test"})
    failed = heartbeat.apply(kwargs={"source": None})  # NOT NULL: the task fails
    assert failed.failed()
    after = scrape(client)
    task = {"task": "fixops.heartbeat"}
    ok = value(after, "fixops_celery_tasks_total", outcome="succeeded", **task)
    assert ok - value(before, "fixops_celery_tasks_total", outcome="succeeded", **task) == 1
    bad = value(after, "fixops_celery_tasks_total", outcome="failed", **task)
    assert bad - value(before, "fixops_celery_tasks_total", outcome="failed", **task) == 1
    assert value(after, "fixops_celery_task_duration_seconds_count", **task) >= 2


def test_database_gauges(client, acme):
    integration = jira_integration(acme)
    enqueue_tickets(integration, 3)
    OutboxMessage.objects.filter(pk=OutboxMessage.objects.order_by("id").first().pk).update(
        status="dead"
    )
    OutboxMessage.objects.filter(status="pending").update(
        created_at=timezone.now() - timedelta(minutes=10)
    )
    Integration.objects.filter(pk=integration.pk).update(breaker_state="open")
    Heartbeat.objects.create(source="beat", last_seen=timezone.now() - timedelta(seconds=90))
    FeedStatus.objects.update_or_create(
        name="kev", defaults={"last_success": timezone.now() - timedelta(hours=5)}
    )
    samples = scrape(client)
    assert value(samples, "fixops_database_gauges_up") == 1
    assert value(samples, "fixops_outbox_messages", status="pending") == 2
    assert value(samples, "fixops_outbox_messages", status="dead") == 1
    assert value(samples, "fixops_outbox_dead_messages") == 1
    assert 590 < value(samples, "fixops_outbox_oldest_pending_age_seconds") < 700
    breaker = {"integration": str(integration.pk), "kind": "jira"}
    assert value(samples, "fixops_breaker_state", state="open", **breaker) == 1
    assert value(samples, "fixops_breaker_state", state="closed", **breaker) == 0
    assert 89 < value(samples, "fixops_beat_heartbeat_age_seconds") < 150
    assert 5 * 3600 - 5 < value(samples, "fixops_feed_age_seconds", feed="kev") < 5 * 3600 + 60
    assert value(samples, "fixops_scans_unfinished", status="queued") == 0


def test_database_gauges_are_cached_between_scrapes(client, acme, settings):
    settings.FIXOPS_METRICS_CACHE_SECONDS = 3600
    integration = jira_integration(acme)
    first = value(scrape(client), "fixops_outbox_messages", status="pending")
    enqueue_tickets(integration, 2)
    assert value(scrape(client), "fixops_outbox_messages", status="pending") == first
    observability._collector._at = float("-inf")  # the cache has expired
    assert value(scrape(client), "fixops_outbox_messages", status="pending") == first + 2
