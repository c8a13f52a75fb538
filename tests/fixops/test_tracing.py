"""Tracing (OpenTelemetry) and JSON logs. The end-to-end test runs a real Celery worker on
the Redis broker and the fake Jira: one trace holds the upload's request, the queued import
in the worker, the outbox drain and the vendor call."""

from __future__ import annotations

import json
import logging
import time

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from django.apps import apps as django_apps
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from apps.connectors.services import integration_create
from fixops.celery import app as fixops_app
from fixops.platform import tracing
from fixops.platform.logjson import JsonFormatter
from fixops.platform.request_id import RequestIdFilter
from tests.fakes.jira import FakeJira
from tests.findings.reports import many, sarif, upload


def test_tracing_is_off_without_an_endpoint():
    assert tracing.configure(service="fixops", endpoint="") is None
    assert tracing.current_ids() == ("", "")


def test_json_logs_carry_request_and_trace_ids():
    exporter = InMemorySpanExporter()
    provider = tracing.configure(service="fixops-test", exporter=exporter)
    try:
        formatter, record_filter = JsonFormatter(), RequestIdFilter()
        record = logging.makeLogRecord(
            {"name": "fixops.test", "levelno": 30, "levelname": "WARNING", "msg": "scan %s failed",
             "args": (42,), "tenant": "acme"}
        )  # fmt: skip
        with provider.get_tracer("test").start_as_current_span("work") as span:
            record_filter.filter(record)
            line = json.loads(formatter.format(record))
            context = span.get_span_context()
        assert line["message"] == "scan 42 failed"
        assert line["level"] == "WARNING" and line["logger"] == "fixops.test"
        assert line["request_id"] == "-"  # outside a request
        assert line["trace_id"] == format(context.trace_id, "032x")
        assert line["span_id"] == format(context.span_id, "016x")
        assert line["tenant"] == "acme"  # what `extra=` passed is kept
        outside = json.loads(formatter.format(record))
        assert outside["trace_id"] == ""
    finally:
        tracing.shutdown()


@pytest.fixture
def redis_app(redis_url):
    """The project's tasks on a Celery app bound to Redis, current while the test runs (shared
    tasks publish through it, as they would through the project's app in production)."""
    app = Celery("fixops-trace-test", set_as_current=True)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = redis_url
    app.conf.task_default_queue = f"fixops-trace-{time.monotonic_ns()}"
    app.autodiscover_tasks([c.name for c in django_apps.get_app_configs()], force=True)
    yield app
    fixops_app.set_current()
    app.close()


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_one_trace_from_upload_through_the_worker_to_the_vendor(
    acme, acme_analyst, redis_app, settings
):
    settings.FIXOPS_INGEST_ASYNC_BYTES = 1  # every upload is queued for the worker
    exporter = InMemorySpanExporter()
    tracing.configure(service="fixops-test", exporter=exporter)
    try:
        with FakeJira() as jira:
            config = jira.config()
            integration_create(
                tenant=acme, kind="jira", name="jira", base_url=config["base_url"],
                credentials=config["credentials"], settings=config["settings"],
                min_severity="info",
            )  # fmt: skip
            with start_worker(
                redis_app, pool="solo", perform_ping_check=False, loglevel="WARNING",
                shutdown_timeout=10,
            ):  # fmt: skip
                response = acme_analyst.post(
                    "/api/v1/scans/",
                    {"file": upload(sarif(many(2))), "application": "shop"},
                    format="multipart",
                )
                assert response.status_code == 202, response.content
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not jira.requests_to("POST", r"/issue$"):
                    time.sleep(0.2)
                assert jira.requests_to("POST", r"/issue$"), "no ticket reached the fake Jira"
                time.sleep(0.5)  # the drain's client span ends just after the response
        spans = exporter.get_finished_spans()
    finally:
        tracing.shutdown()

    [upload_span] = [s for s in spans if s.kind == SpanKind.SERVER and "scans" in s.name]
    trace_id = upload_span.context.trace_id
    in_trace = [s for s in spans if s.context.trace_id == trace_id]
    names = {s.name for s in in_trace}
    assert any(n == "run/fixops.findings.scan_process" for n in names), sorted(names)
    assert "run/fixops.connectors.drain" in names, sorted(names)

    def url(span) -> str:
        return str(span.attributes.get("url.full") or span.attributes.get("http.url") or "")

    vendor_calls = [s for s in in_trace if s.kind == SpanKind.CLIENT and jira.url in url(s)]
    assert vendor_calls, sorted(names)
    assert any(s.attributes.get("db.system") == "postgresql" for s in in_trace)  # psycopg
    # The worker's spans are children, across the broker, of the request's.
    worker_runs = [s for s in in_trace if s.kind == SpanKind.CONSUMER]
    assert worker_runs and all(s.parent is not None for s in worker_runs)
