"""Crash safety of the inbox with real Celery workers on Redis: a worker SIGKILLed while it
applies a batch of stored deliveries (its transaction open, rows claimed) loses nothing and
applies nothing twice; after its lease runs out a restarted worker applies every delivery
exactly once."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from apps.connectors.models import DeliveryStatus, InboundDelivery
from apps.findings.models import Finding, FindingEvent, FindingStatus
from fixops.platform.models import AuditEvent
from tests.connectors.inbound.conftest import endpoint
from tests.connectors.workers import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.django_db(transaction=True)]


class RowLock:
    """Holds a finding's row lock from another connection, so the worker blocks inside its
    apply transaction (claimed, nothing committed) until released."""

    def __init__(self, finding_id: int) -> None:
        self.finding_id = finding_id
        self.locked, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        try:
            with transaction.atomic():
                Finding.objects.select_for_update().get(pk=self.finding_id)
                self.locked.set()
                self.release.wait(120)
        finally:
            connection.close()

    def __enter__(self) -> RowLock:
        self.thread.start()
        assert self.locked.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.thread.join(10)


def _inbox_task(broker) -> None:
    broker.app.send_task(
        "fixops.connectors.inbox_process", kwargs={"reason": "test"}, queue=broker.queue
    )


def test_sigkill_while_applying_then_restart_applies_each_delivery_once(
    broker, acme, fake_jira, make_integration, ticket_for, tmp_path
):
    jira = make_integration(acme, fake_jira, min_severity="low")
    total = 12
    linked = [ticket_for(jira) for _ in range(total)]
    fake_jira.subscribe_webhook(endpoint(jira), secret=jira.webhook_secret)
    for _, link in linked:
        [delivery] = fake_jira.transition_issue(link.remote_key, "Done")
        assert delivery.status == 202
    assert InboundDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == total
    first_finding = min(f.pk for f, _ in linked)
    lease = 4
    worker = broker.worker(tmp_path, "first", FIXOPS_INBOX_LEASE_SECONDS=lease).start()
    with RowLock(first_finding):
        _inbox_task(broker)
        claimed = wait_until(
            lambda: (
                InboundDelivery.objects.filter(status=DeliveryStatus.PROCESSING).count() == total
            ),
            30,
        )
        time.sleep(0.5)  # the worker is inside the first delivery's transaction, blocked
        worker.kill()
    killed_at = time.monotonic()
    assert claimed, worker.output()[-3000:]
    assert not Finding.objects.filter(status=FindingStatus.FIXED).exists()
    second = broker.worker(tmp_path, "second", FIXOPS_INBOX_LEASE_SECONDS=lease).start()
    try:
        done = wait_until(
            lambda: InboundDelivery.objects.filter(status=DeliveryStatus.APPLIED).count() == total,
            60,
            interval=1,
            tick=lambda: _inbox_task(broker),
        )
    finally:
        second.stop()
    assert done, second.output()[-3000:]
    print(  # noqa: T201 - the recovery figure
        f"\ninbox crash recovery: {total} deliveries claimed by a SIGKILLed worker, all applied "
        f"{time.monotonic() - killed_at:.1f} s after the kill (lease {lease} s)"
    )
    ids = [f.pk for f, _ in linked]
    assert set(Finding.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"fixed"}
    # Exactly once: one FIXED event and one audit row per finding, each delivery tried twice
    # at most (the killed claim and the takeover).
    fixed_events = FindingEvent.objects.filter(finding_id__in=ids, to_status="fixed").count()
    assert fixed_events == total
    audits = AuditEvent.objects.filter(action="finding.status", target_id__in=[str(i) for i in ids])
    assert audits.count() == total
    assert set(InboundDelivery.objects.values_list("attempts", flat=True)) == {2}
