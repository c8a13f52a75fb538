"""Crash safety with real Celery workers on Redis: a worker SIGKILLed in the middle of a batch
loses nothing and duplicates nothing; a vendor down for a while opens the breaker, nothing is
lost, and delivery resumes when it comes back."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from apps.connectors.models import (
    AttemptOutcome,
    Integration,
    MessageStatus,
    OutboxAttempt,
    OutboxMessage,
)
from tests.connectors.factories import enqueue_tickets
from tests.connectors.workers import Broker, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def broker(redis_url):
    broker = Broker(redis_url)
    yield broker
    broker.purge()
    broker.close()


@pytest.fixture
def gitlab(acme, fake_gitlab, make_integration):
    return make_integration(acme, fake_gitlab)


def _issues_per_reference(fake) -> Counter:
    with fake.lock:
        return Counter(
            label
            for issue in fake.state["issues"].values()
            for label in issue["labels"]
            if label.startswith("fixops-t-")
        )


def _delivered() -> int:
    return OutboxMessage.objects.filter(status=MessageStatus.DELIVERED).count()


def test_sigkill_mid_batch_then_restart_delivers_everything_once(
    broker, gitlab, fake_gitlab, tmp_path
):
    total = 120
    enqueue_tickets(gitlab, total)
    fake_gitlab.delay(0.03)  # each vendor call takes a while: the kill lands inside a batch
    settings = {"FIXOPS_OUTBOX_LEASE_SECONDS": 3, "FIXOPS_OUTBOX_BATCH_SIZE": 25}
    worker = broker.worker(tmp_path, "first", **settings).start()
    try:
        broker.drain()
        # Wait until the worker is inside a batch whose outcomes are not recorded yet.
        assert wait_until(lambda: sum(_issues_per_reference(fake_gitlab).values()) >= 35, 60)
    finally:
        worker.kill()
    in_flight = OutboxMessage.objects.filter(status=MessageStatus.IN_FLIGHT).count()
    created = sum(_issues_per_reference(fake_gitlab).values())
    assert in_flight > 0, "the kill should land inside a batch"
    assert created > _delivered(), "some tickets exist whose delivery was never recorded"
    # A new worker; beat keeps sending the drain task. Leases of the dead one expire.
    fake_gitlab.delay(0)
    worker = broker.worker(tmp_path, "second", **settings).start()
    try:
        done = wait_until(lambda: _delivered() == total, 90, interval=1, tick=broker.drain)
    finally:
        worker.stop()
    assert done, worker.output()[-3000:]
    counts = _issues_per_reference(fake_gitlab)
    assert len(counts) == total and set(counts.values()) == {1}, "no duplicate ticket"
    assert OutboxAttempt.objects.filter(outcome=AttemptOutcome.LEASE_EXPIRED).count() >= in_flight
    assert not OutboxMessage.objects.exclude(status=MessageStatus.DELIVERED).exists()


def test_vendor_outage_opens_the_breaker_and_delivery_resumes(
    broker, gitlab, fake_gitlab, tmp_path
):
    total = 40
    fake_gitlab.down()
    enqueue_tickets(gitlab, total)
    settings = {
        "FIXOPS_BREAKER_THRESHOLD": 3,
        "FIXOPS_BREAKER_OPEN_SECONDS": 1,
        "FIXOPS_OUTBOX_BACKOFF_BASE": 0.5,
        "FIXOPS_OUTBOX_BACKOFF_MAX": 2,
    }
    worker = broker.worker(tmp_path, "outage", **settings).start()
    try:
        broker.drain()
        assert wait_until(lambda: Integration.objects.get(pk=gitlab.pk).breaker_state == "open", 30)
        # Down for a while, beat ticking: only probes reach the vendor, nothing is dropped.
        started = len(fake_gitlab.requests)
        for _ in range(5):
            broker.drain()
            time.sleep(1)
        during_outage = len(fake_gitlab.requests) - started
        assert during_outage <= 8, f"{during_outage} calls to a vendor that is down"
        assert not OutboxMessage.objects.filter(status=MessageStatus.DEAD).exists()
        fake_gitlab.up()
        done = wait_until(lambda: _delivered() == total, 60, interval=1, tick=broker.drain)
    finally:
        worker.stop()
    assert done, worker.output()[-3000:]
    integration = Integration.objects.get(pk=gitlab.pk)
    assert integration.breaker_state == "closed" and integration.last_success_at
    counts = _issues_per_reference(fake_gitlab)
    assert len(counts) == total and set(counts.values()) == {1}
