"""Outbox drain throughput and commit-to-delivery latency, 2 real Celery worker processes on
Redis delivering to a fake GitLab on 127.0.0.1.

Targets (issue 7): at least 300 messages/s, p95 commit -> delivery under 2 s, 0 duplicates.

- backlog: 10,000 messages committed at once, drained by the 2 workers: messages/s.
- steady: 10,000 messages committed in transactions of 10 at a paced rate (the throughput
  target), with the commit trigger and a 1 s beat: p50/p95 latency from the row's creation
  (inside the committing transaction) to its recorded delivery.
- baseline, same run: the same GitLab creates called directly by one in-process loop (no
  outbox, no database), i.e. what the vendor calls alone cost.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter

import pytest
from django.db import connection, transaction

from apps.connectors.base import Ticket
from apps.connectors.models import MessageStatus, OutboxMessage
from apps.connectors.registry import connector_for
from apps.connectors.services import integration_create
from fixops.celery import app as celery_app
from tests.bench.figures import figure
from tests.connectors.factories import enqueue_tickets
from tests.connectors.workers import Broker, wait_until
from tests.fakes.gitlab import FakeGitLab
from tests.tenants.factories import TenantFactory

pytestmark = pytest.mark.django_db(transaction=True)

N = 10_000
RATE = 300  # messages/s offered in the steady phase
CHUNK = 10


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _baseline(fake, n: int = 1000) -> float:
    cfg = fake.config()
    connector = connector_for(
        cfg["kind"],
        base_url=cfg["base_url"],
        credentials=cfg["credentials"],
        settings=cfg["settings"],
    )
    started = time.perf_counter()
    for i in range(n):
        connector.create(Ticket(reference=f"fixops-baseline-{i}", title=f"b {i}", body="b"))
    return n / (time.perf_counter() - started)


def _delivered(integration) -> int:
    return OutboxMessage.objects.filter(
        integration=integration, status=MessageStatus.DELIVERED
    ).count()


def test_bench_outbox_drain(redis_url, tmp_path, settings):
    broker = Broker(redis_url)
    # The commit trigger of this process goes to the workers' queue on Redis.
    saved = (celery_app.conf.broker_url, celery_app.conf.task_routes)
    celery_app.conf.broker_url = redis_url
    celery_app.conf.task_routes = {"fixops.connectors.drain": {"queue": broker.queue}}
    fake = FakeGitLab()
    fake.start()
    workers = []
    try:
        tenant = TenantFactory(slug="bench-outbox")
        cfg = fake.config()
        integration = integration_create(
            tenant=tenant,
            name="bench",
            kind="gitlab",
            base_url=cfg["base_url"],
            credentials=cfg["credentials"],
            settings=cfg["settings"],
        )
        baseline = _baseline(fake)
        workers = [broker.worker(tmp_path, f"w{i}", pool="solo").start() for i in range(2)]

        # Backlog: 10,000 at once.
        with transaction.atomic():
            enqueue_tickets(integration, N)
        committed = time.perf_counter()
        broker.drain(2)
        done = wait_until(
            lambda: _delivered(integration) == N, 300, interval=0.25, tick=lambda: broker.drain(1)
        )
        backlog_seconds = time.perf_counter() - committed
        assert done, workers[0].output()[-2000:]

        # Steady: 10,000 more at RATE messages/s, committed 10 at a time.
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(1.0):
                broker.drain(1)

        ticker = threading.Thread(target=beat, daemon=True)
        ticker.start()
        started = time.perf_counter()
        for i, start in enumerate(range(N, 2 * N, CHUNK)):
            with transaction.atomic():
                enqueue_tickets(integration, CHUNK, start=start)
            pause = started + (i + 1) * CHUNK / RATE - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        produced = time.perf_counter() - started
        done = wait_until(lambda: _delivered(integration) == 2 * N, 300, interval=0.25)
        steady_seconds = time.perf_counter() - started
        stop.set()
        assert done, workers[0].output()[-2000:]
        latencies = [
            (delivered - created).total_seconds()
            for created, delivered in OutboxMessage.objects.filter(
                integration=integration,
                reference__in=[f"fixops-t-{integration.pk}-{n}" for n in range(N, 2 * N)],
            ).values_list("created_at", "delivered_at")
        ]
        with fake.lock:
            per_reference = Counter(
                label
                for issue in fake.state["issues"].values()
                for label in issue["labels"]
                if label.startswith("fixops-t-")
            )
        duplicates = sum(n - 1 for n in per_reference.values())
        attempts = OutboxMessage.objects.filter(integration=integration).values_list(
            "attempts", flat=True
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_size_pretty(pg_total_relation_size('connectors_outboxmessage'))"
            )
            size = cursor.fetchone()[0]
    finally:
        for worker in workers:
            worker.stop()
        celery_app.conf.broker_url, celery_app.conf.task_routes = saved
        broker.purge()
        broker.close()
        fake.stop()

    print()
    print(f"  baseline: direct GitLab creates, 1 process, no outbox: {baseline:8.0f} calls/s")
    print(
        f"  backlog:  {N} messages, 2 workers: {N / backlog_seconds:8.0f} msg/s "
        f"({backlog_seconds:.1f} s)"
    )
    print(
        f"  steady:   {N} messages offered at {RATE}/s over {produced:.1f} s, all delivered "
        f"after {steady_seconds:.1f} s: {N / steady_seconds:.0f} msg/s"
    )
    print(
        f"  latency commit -> delivery: p50 {_percentile(latencies, 50):.3f} s, "
        f"p95 {_percentile(latencies, 95):.3f} s, max {max(latencies):.3f} s"
    )
    print(
        f"  duplicates at the vendor: {duplicates}; tickets {len(per_reference)}; "
        f"attempts > 1: {sum(1 for a in attempts if a > 1)}; outbox table {size}"
    )
    figure("outbox.direct_baseline", baseline, "calls/s", better="higher")
    figure("outbox.backlog", N / backlog_seconds, "msg/s", better="higher")
    figure("outbox.steady", N / steady_seconds, "msg/s", better="higher")
    figure("outbox.latency_p50", _percentile(latencies, 50), "s", better="lower")
    figure("outbox.latency_p95", _percentile(latencies, 95), "s", better="lower")
    assert duplicates == 0 and len(per_reference) == 2 * N
