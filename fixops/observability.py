"""/metrics and the worker's metrics port: the process metrics of fixops/platform/metrics.py
plus gauges read from the database at scrape time by one collector, cached for
FIXOPS_METRICS_CACHE_SECONDS so frequent scrapes by several Prometheus servers cost one set
of queries (docs/operations.md, "Metrics").

Who may scrape: `Authorization: Bearer <FIXOPS_METRICS_TOKEN>`, or a client address inside
FIXOPS_METRICS_ALLOWLIST (CIDRs; loopback by default). Anyone else gets 404, so the endpoint
does not advertise itself.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from apps.connectors.selectors import inbox_gauges, outbox_gauges
from apps.findings.scan_queue import queue_gauges
from apps.intel.feeds.status import feed_statuses
from fixops.models import Heartbeat
from fixops.platform import metrics

logger = logging.getLogger(__name__)
BREAKER_STATES = ("closed", "open", "half_open")


class DatabaseCollector(Collector):
    """Outbox depth and age, dead letters, breakers, inbox depth and age, queued scans, feed
    and beat ages."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: list = []
        self._at = float("-inf")

    def collect(self):
        with self._lock:
            if time.monotonic() - self._at >= settings.FIXOPS_METRICS_CACHE_SECONDS:
                try:
                    self._cached = list(self._read())
                except Exception:  # noqa: BLE001 — a scrape shows what it can, never a 500
                    logger.exception("metrics: reading the database gauges failed")
                    up = GaugeMetricFamily(
                        "fixops_database_gauges_up", "1 when the database gauges were read"
                    )
                    up.add_metric([], 0)
                    self._cached = [up]
                self._at = time.monotonic()
            return iter(self._cached)

    def _read(self):
        now = timezone.now()
        up = GaugeMetricFamily("fixops_database_gauges_up", "1 when the database gauges were read")
        up.add_metric([], 1)
        yield up

        outbox = outbox_gauges()
        messages = GaugeMetricFamily(
            "fixops_outbox_messages",
            "Outbox messages not yet delivered, by status",
            labels=["status"],
        )
        for status, (count, _oldest) in sorted(outbox["messages"].items()):
            messages.add_metric([status], count)
        yield messages
        dead = GaugeMetricFamily(
            "fixops_outbox_dead_messages", "Dead letters: messages given up on"
        )
        dead.add_metric([], outbox["messages"].get("dead", (0, None))[0])
        yield dead
        oldest = outbox["messages"].get("pending", (0, None))[1]
        age = GaugeMetricFamily(
            "fixops_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending outbox message (0 when none)",
        )
        age.add_metric([], (now - oldest).total_seconds() if oldest else 0)
        yield age
        breaker = GaugeMetricFamily(
            "fixops_breaker_state",
            "Each integration's circuit breaker: 1 for its current state",
            labels=["integration", "kind", "state"],
        )
        for pk, kind, state in outbox["breakers"]:
            for name in BREAKER_STATES:
                breaker.add_metric([str(pk), kind, name], 1 if state == name else 0)
        yield breaker

        inbox = inbox_gauges()
        deliveries = GaugeMetricFamily(
            "fixops_inbox_deliveries",
            "Inbound webhook deliveries not yet applied (pending, processing) or failed",
            labels=["status"],
        )
        for status, (count, _oldest) in sorted(inbox.items()):
            deliveries.add_metric([status], count)
        yield deliveries
        first = inbox["pending"][1]
        inbox_age = GaugeMetricFamily(
            "fixops_inbox_oldest_pending_age_seconds",
            "Age of the oldest pending inbound delivery (0 when none)",
        )
        inbox_age.add_metric([], (now - first).total_seconds() if first else 0)
        yield inbox_age

        queued = GaugeMetricFamily(
            "fixops_scans_unfinished", "Queued imports not yet done, by status", labels=["status"]
        )
        waiting = GaugeMetricFamily(
            "fixops_scans_oldest_queued_age_seconds", "Age of the oldest queued scan (0 when none)"
        )
        scan_queue = queue_gauges()
        for status, count in sorted(scan_queue["counts"].items()):
            queued.add_metric([status], count)
        oldest_scan = scan_queue["oldest_queued"]
        waiting.add_metric([], (now - oldest_scan).total_seconds() if oldest_scan else 0)
        yield queued
        yield waiting

        feeds = GaugeMetricFamily(
            "fixops_feed_age_seconds",
            "Time since each intel feed's last successful refresh (absent: never refreshed)",
            labels=["feed"],
        )
        for feed in feed_statuses():
            if feed.get("age_seconds") is not None:
                feeds.add_metric([feed["name"]], feed["age_seconds"])
        yield feeds

        beat = GaugeMetricFamily(
            "fixops_beat_heartbeat_age_seconds",
            "Time since beat's last heartbeat reached a worker (absent: never)",
        )
        row = Heartbeat.objects.filter(source="beat").first()
        if row is not None:
            beat.add_metric([], (now - row.last_seen).total_seconds())
        yield beat


_collector = DatabaseCollector()


def _client_allowed(request: HttpRequest) -> bool:
    token = settings.FIXOPS_METRICS_TOKEN
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and constant_time_compare(value.strip(), token):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.FIXOPS_METRICS_ALLOWLIST)


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _client_allowed(request):
        raise Http404
    body, content_type = metrics.exposition([_collector])
    return HttpResponse(body, content_type=content_type)
