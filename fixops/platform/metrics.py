"""Prometheus metrics of the processes: what they count and time, and how a scrape reads
them (docs/operations.md, "Metrics").

Counters and histograms live here, in the platform, so any layer can record into them.
Under gunicorn or Celery's prefork pool each process counts on its own; with
PROMETHEUS_MULTIPROC_DIR set (the chart, Compose and `make run` set it) prometheus-client
writes every process's values to files in that directory and a scrape sums them, so the
answer does not depend on which process serves it. Gauges read from the database are not
here: they come from one collector at scrape time (fixops/observability.py).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # A metric without labels writes its file as soon as it is defined, below: on an empty
    # /tmp (a container's emptyDir) or a fresh checkout the directory must exist first.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SLOW_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)

http_requests = Counter(
    "fixops_http_requests", "HTTP requests answered", ["route", "method", "status"]
)
http_latency = Histogram(
    "fixops_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
scans = Counter("fixops_scans", "Scan uploads by format and outcome", ["format", "outcome"])
ingest_results = Counter(
    "fixops_ingest_results",
    "Results of imported reports: kept as findings, lost (unreadable) or suppressed",
    ["format", "outcome"],
)
import_latency = Histogram(
    "fixops_import_duration_seconds",
    "Time to import one report (parse, deduplicate, write, score)",
    ["format"],
    buckets=SLOW_BUCKETS,
)
decisions = Counter("fixops_decisions", "Gate decisions by outcome", ["outcome"])
decision_latency = Histogram(
    "fixops_decision_duration_seconds", "Time to make one gate decision", buckets=LATENCY_BUCKETS
)
inbound_deliveries = Counter(
    "fixops_inbound_deliveries",
    "Inbound webhook deliveries received, by integration kind and outcome (accepted, "
    "replayed, unfollowed, rejected, malformed, too_large, not_found)",
    ["kind", "outcome"],
)
inbound_processed = Counter(
    "fixops_inbound_processed",
    "Inbox deliveries processed by a worker, by integration kind and outcome (applied, "
    "ignored, retried, failed)",
    ["kind", "outcome"],
)
task_runs = Counter("fixops_celery_tasks", "Celery task runs by outcome", ["task", "outcome"])
task_latency = Histogram(
    "fixops_celery_task_duration_seconds", "Celery task run time", ["task"], buckets=SLOW_BUCKETS
)


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def exposition(collectors: Iterable[Collector] = ()) -> tuple[bytes, str]:
    """The text exposition of this process group's metrics plus `collectors` (read at
    scrape time), and its content type."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = _WithExtra(REGISTRY)
    for collector in collectors:
        registry.register(collector)
    try:
        return generate_latest(registry), CONTENT_TYPE_LATEST
    finally:
        for collector in collectors:
            registry.unregister(collector)


class _WithExtra(CollectorRegistry):
    """The process's default registry plus scrape-time collectors, without registering
    those into the default registry for good."""

    def __init__(self, base: CollectorRegistry) -> None:
        super().__init__(auto_describe=False)
        self._base = base

    def collect(self):
        yield from self._base.collect()
        yield from super().collect()


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    http_requests.labels(route, method, str(status)).inc()
    http_latency.labels(route, method).observe(seconds)


def mark_process_dead(pid: int) -> None:
    """Gunicorn's child_exit hook: a dead worker's live gauges leave the sums."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)


def clear_multiprocess_dir() -> None:
    """At server start: files of a previous run would be summed with this one's."""
    directory = multiprocess_dir()
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.unlink(os.path.join(directory, name))


def task_observer() -> tuple[Callable, Callable]:
    """Celery signal receivers (task_prerun, task_postrun) recording task runs and time."""
    started: dict[str, float] = {}

    def prerun(task_id=None, task=None, **_kwargs) -> None:
        started[task_id] = time.perf_counter()

    def postrun(task_id=None, task=None, state=None, **_kwargs) -> None:
        began = started.pop(task_id, None)
        name = getattr(task, "name", "unknown")
        outcome = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}.get(
            state or "", (state or "unknown").lower()
        )
        task_runs.labels(name, outcome).inc()
        if began is not None:
            task_latency.labels(name).observe(time.perf_counter() - began)

    return prerun, postrun


class MetricsMiddleware:
    """Counts and times every request by its URL pattern (not its path: the label set stays
    bounded whatever callers send); a request no pattern matched is `unmatched`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "unmatched"
        observe_request(route, request.method, response.status_code, time.perf_counter() - started)
        return response


def serve_worker_metrics(port: int, address: str = "0.0.0.0") -> None:  # noqa: S104 - a pod port
    """A Celery worker's own metrics endpoint (task runs and times, summed over its pool when
    PROMETHEUS_MULTIPROC_DIR is set), on FIXOPS_WORKER_METRICS_PORT; started in the worker's
    main process. No database gauges: the web's /metrics has them, once."""
    if multiprocess_dir():
        clear_multiprocess_dir()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        start_http_server(port, addr=address, registry=registry)
    else:
        start_http_server(port, addr=address)
    logger.info("worker metrics on %s:%s", address, port)
