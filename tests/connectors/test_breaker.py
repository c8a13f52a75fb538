"""The circuit breaker per integration: opens on repeated transient failures, stops calls,
probes once (half-open) when its wait is over, closes on success; nothing is lost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.connectors import drain
from apps.connectors.models import Integration, MessageStatus, OutboxMessage
from apps.connectors.services import integration_sync
from fixops.platform.http import breaker
from fixops.platform.models.breaker import BreakerState
from tests.connectors.factories import enqueue_tickets

pytestmark = pytest.mark.django_db


def _rows(integration_id: int):
    return Integration.objects.filter(pk=integration_id)


def _enabled():
    return Integration.objects.filter(enabled=True)


@pytest.fixture
def jira(acme, fake_jira, make_integration, settings):
    settings.FIXOPS_BREAKER_THRESHOLD = 3
    settings.FIXOPS_BREAKER_OPEN_SECONDS = 60
    return make_integration(acme, fake_jira)


def _wait_is_over(integration: Integration) -> None:
    Integration.objects.filter(pk=integration.pk).update(
        breaker_until=timezone.now() - timedelta(seconds=1)
    )
    OutboxMessage.objects.filter(status=MessageStatus.FAILED).update(next_attempt_at=timezone.now())


def test_threshold_opens_and_a_success_closes(jira):
    assert breaker.record_failure(_rows(jira.pk), "503") == BreakerState.CLOSED
    assert breaker.record_failure(_rows(jira.pk), "503") == BreakerState.CLOSED
    assert breaker.record_failure(_rows(jira.pk), "503 again") == BreakerState.OPEN
    jira.refresh_from_db()
    assert jira.breaker_until > timezone.now() + timedelta(seconds=50)
    assert jira.last_error == "503 again" and jira.breaker_opens == 1
    assert breaker.take_probes(_enabled(), hold_seconds=120) == []  # still waiting
    _wait_is_over(jira)
    assert breaker.take_probes(_enabled(), hold_seconds=120) == [jira.pk]
    assert breaker.take_probes(_enabled(), hold_seconds=120) == []  # one prober at a time
    jira.refresh_from_db()
    assert jira.breaker_state == BreakerState.HALF_OPEN
    breaker.record_success(_rows(jira.pk))
    jira.refresh_from_db()
    assert jira.breaker_state == BreakerState.CLOSED and jira.breaker_failures == 0
    assert breaker.record_failure(_rows(10**9), "gone") == BreakerState.OPEN  # deleted integration


def test_a_vendor_outage_opens_the_breaker_loses_nothing_and_delivery_resumes(jira, fake_jira):
    enqueue_tickets(jira, 8)
    fake_jira.down()
    stats = drain.drain(budget_seconds=20)
    assert stats.retried == 3 and stats.released == 5 and stats.dead == 0
    jira.refresh_from_db()
    assert jira.breaker_state == BreakerState.OPEN
    calls = len(fake_jira.requests)
    # Open: the messages are not even claimed, the vendor is left alone.
    OutboxMessage.objects.update(next_attempt_at=timezone.now())
    assert drain.drain(budget_seconds=5).claimed == 0
    assert len(fake_jira.requests) == calls
    released = OutboxMessage.objects.filter(attempts=0)
    assert released.count() == 5  # released messages did not burn an attempt
    # Still down when the wait is over: the single probe fails, the wait doubles.
    _wait_is_over(jira)
    stats = drain.drain(budget_seconds=20)
    assert stats.probes == 1 and stats.claimed == 1 and stats.retried == 1
    jira.refresh_from_db()
    assert jira.breaker_state == BreakerState.OPEN and jira.breaker_opens == 2
    assert jira.breaker_until > timezone.now() + timedelta(seconds=100)
    # Back up: the probe succeeds, the breaker closes, everything is delivered once.
    fake_jira.up()
    _wait_is_over(jira)
    stats = drain.drain(budget_seconds=30)
    assert stats.probes == 1 and stats.delivered == 8
    jira.refresh_from_db()
    assert jira.breaker_state == BreakerState.CLOSED and jira.last_success_at
    assert OutboxMessage.objects.filter(status=MessageStatus.DELIVERED).count() == 8
    assert len(fake_jira.state["issues"]) == 8


def test_a_probe_answered_with_a_permanent_error_closes_the_breaker(jira, fake_jira):
    enqueue_tickets(jira, 2)
    for _ in range(3):
        breaker.record_failure(_rows(jira.pk), "timeout")
    _wait_is_over(jira)
    fake_jira.fail_next(1, 400)
    stats = drain.drain(budget_seconds=20)
    assert stats.probes == 1 and stats.dead == 1 and stats.delivered == 1
    jira.refresh_from_db()
    assert jira.breaker_state == BreakerState.CLOSED


def test_nothing_to_probe_leaves_the_breaker_open_and_probe_able(jira):
    for _ in range(3):
        breaker.record_failure(_rows(jira.pk), "timeout")
    _wait_is_over(jira)
    assert drain.drain(budget_seconds=5).probes == 0
    jira.refresh_from_db()
    assert jira.breaker_state == BreakerState.OPEN and jira.breaker_until <= timezone.now()
    breaker.reset(_rows(jira.pk))
    jira.refresh_from_db()
    assert jira.breaker_state == BreakerState.CLOSED


def test_sync_ignores_the_breaker(jira, fake_jira, acme):
    enqueue_tickets(jira, 2)
    for _ in range(3):
        breaker.record_failure(_rows(jira.pk), "timeout")
    counts = integration_sync(integration=jira)
    assert counts["delivered"] == 2 and counts["out_of_sync"]["pending"] == 0
    jira.refresh_from_db()
    assert jira.breaker_state == BreakerState.CLOSED
