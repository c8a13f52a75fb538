"""Inbound webhooks: deliveries verified and applied per second, and the time from a ticket
closed at the (fake) vendor to its finding updated, with a real Celery worker running.

- throughput: N Jira "Done" deliveries, signed by the fake Jira, POSTed to /hooks/<id>/ (verify,
  parse-check, store) then applied by the inbox worker loop in-process (claim, parse,
  apply_changes, mark): deliveries/s end to end, and each half.
- baseline, same run: the same kind of changes (parsed from the same fake's bodies, for N other
  tickets) applied directly with apply_changes, one transaction each: what applying alone costs.
- latency: M tickets closed one after another at the fake Jira, whose webhook reaches our
  endpoint; the commit trigger queues fixops.connectors.inbox_process to 1 real worker on
  Redis; p50/p95 from the close to the finding being `fixed` (target p95 < 5 s).
"""

from __future__ import annotations

import statistics
import time

import pytest
from django.db import transaction

from apps.connectors import drain, tickets
from apps.connectors.inbound.apply import apply_changes
from apps.connectors.inbound.inbox import inbox_drain
from apps.connectors.jira import webhook as jira_webhook
from apps.connectors.models import ExternalLink
from apps.connectors.services import integration_create
from apps.findings.models import Finding, FindingStatus
from fixops.celery import app as celery_app
from tests.bench.figures import figure
from tests.connectors.inbound.conftest import endpoint
from tests.connectors.workers import Broker, reset_celery_pools, wait_until
from tests.fakes.jira import FakeJira
from tests.findings.factories import FindingFactory
from tests.tenants.factories import TenantFactory

pytestmark = pytest.mark.django_db(transaction=True)

N = 400
M = 40


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _setup(fake, slug: str, count: int):
    tenant = TenantFactory(slug=slug)
    cfg = fake.config()
    jira = integration_create(
        tenant=tenant,
        kind="jira",
        name="bench",
        base_url=cfg["base_url"],
        credentials=cfg["credentials"],
        settings=cfg["settings"],
        min_severity="low",
    )
    findings = [FindingFactory(tenant=tenant, severity="critical") for _ in range(count)]
    tickets.findings_request(
        tenant_id=tenant.pk, finding_ids=[f.pk for f in findings], cause="bench"
    )
    drain.drain(budget_seconds=600, integration_id=jira.pk)
    links = list(ExternalLink.objects.filter(integration=jira).order_by("id"))
    assert len(links) == count
    return jira, links


def _capture(fake, jira, links) -> list[tuple[dict, bytes]]:
    """The signed deliveries of closing each ticket, captured (not yet sent to us)."""
    captured: list[tuple[dict, bytes]] = []

    def keep(headers, body):
        captured.append((headers, body))
        return 202

    sub = fake.subscribe_webhook(keep, secret=jira.webhook_secret)
    for link in links:
        fake.transition_issue(link.remote_key, "Done")
    sub.active = False
    return captured


def test_bench_inbound_throughput():
    fake = FakeJira()
    fake.start()
    try:
        jira, links = _setup(fake, "bench-inbound", 2 * N)
        hooked, direct = links[:N], links[N:]
        deliveries = _capture(fake, jira, hooked)
        baseline_bodies = _capture(fake, jira, direct)
        post = endpoint(jira)
        started = time.perf_counter()
        for headers, body in deliveries:
            assert post(headers, body) == 202
        received = time.perf_counter() - started
        started = time.perf_counter()
        stats = inbox_drain(budget_seconds=600)
        applied = time.perf_counter() - started
        assert stats.applied == N
        changes = [
            c
            for headers, body in baseline_bodies
            for c in jira_webhook.parse(headers=headers, body=body)
        ]
        started = time.perf_counter()
        for change in changes:
            with transaction.atomic():
                assert apply_changes(jira, [change], source="webhook").applied == 1
        direct_seconds = time.perf_counter() - started
        fixed = Finding.objects.filter(tenant=jira.tenant, status=FindingStatus.FIXED).count()
        assert fixed == 2 * N
    finally:
        fake.stop()
    rate = N / (received + applied)
    print(  # noqa: T201 - the figures
        f"\ninbound throughput, {N} Jira deliveries:\n"
        f"  endpoint (verify + store):     {N / received:8.0f} deliveries/s\n"
        f"  worker (claim, parse, apply):  {N / applied:8.0f} deliveries/s\n"
        f"  end to end:                    {rate:8.0f} deliveries/s\n"
        f"  baseline, apply_changes alone: {N / direct_seconds:8.0f} changes/s"
    )
    figure("inbound.throughput", rate, "deliveries/s", better="higher")
    figure("inbound.baseline_apply", N / direct_seconds, "changes/s", better="higher")


def _reset_pools() -> None:
    """Drop the connection and producer pools built for the previous broker URL (earlier
    tests of this process published to the default broker), and the router: Celery caches it
    with the task_routes of its first send, so a route set afterwards would be ignored."""
    reset_celery_pools(celery_app)
    celery_app.amqp.__dict__.pop("router", None)
    celery_app.amqp._rtable = None  # rebuilt from task_routes at the next send


def test_bench_close_to_finding_updated_with_a_worker(redis_url, tmp_path):
    broker = Broker(redis_url)
    saved = (celery_app.conf.broker_url, celery_app.conf.task_routes)
    # The commit trigger of this process (the endpoint's) goes to the worker's queue.
    _reset_pools()
    celery_app.conf.broker_url = redis_url
    celery_app.conf.task_routes = {"fixops.connectors.inbox_process": {"queue": broker.queue}}
    fake = FakeJira()
    fake.start()
    worker = None
    latencies: list[float] = []
    try:
        jira, links = _setup(fake, "bench-inbound-latency", M)
        fake.subscribe_webhook(endpoint(jira), secret=jira.webhook_secret)
        worker = broker.worker(tmp_path, "inbox", pool="solo").start()
        for link in links:
            started = time.perf_counter()
            [delivery] = fake.transition_issue(link.remote_key, "Done")
            assert delivery.status == 202
            finding = Finding.objects.filter(pk=link.finding_id)
            assert wait_until(
                lambda f=finding: f.filter(status=FindingStatus.FIXED).exists(), 30, interval=0.01
            ), worker.output()[-2000:]
            latencies.append(time.perf_counter() - started)
    finally:
        if worker is not None:
            worker.stop()
        celery_app.conf.broker_url, celery_app.conf.task_routes = saved
        _reset_pools()
        broker.purge()
        broker.close()
        fake.stop()
    p50, p95 = _percentile(latencies, 50), _percentile(latencies, 95)
    print(  # noqa: T201
        f"\nticket closed at the fake Jira -> finding fixed, 1 worker, {M} closes: "
        f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms (target p95 < 5 s)"
        f"\n  close -> fixed p95 in seconds: {p95:.3f} s"
    )
    figure("inbound.close_to_fixed_p95", p95, "s", better="lower")
    assert p95 < 5.0
