"""The outbox in one process: enqueue in the caller's transaction, claim, deliver to a fake
vendor, record; retries, dead letters, leases, fencing and per-ticket ordering."""

from __future__ import annotations

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apps.connectors import attempts, drain
from apps.connectors.models import (
    AttemptOutcome,
    ExternalLink,
    MessageKind,
    MessageStatus,
    OutboxAttempt,
    OutboxMessage,
)
from apps.connectors.outbox import NewMessage, enqueue
from apps.connectors.tasks import drain_task
from tests.connectors.factories import enqueue_tickets, ticket_message

pytestmark = pytest.mark.django_db


@pytest.fixture
def jira(acme, fake_jira, make_integration):
    return make_integration(acme, fake_jira)


def _due_now(**filters):
    OutboxMessage.objects.filter(**filters).update(next_attempt_at=timezone.now())


def test_enqueue_writes_in_the_callers_transaction(jira):
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_tickets(jira, 3)
        assert OutboxMessage.objects.count() == 3
        raise RuntimeError("the change that caused the messages failed")
    assert OutboxMessage.objects.count() == 0


def test_enqueue_is_idempotent_and_triggers_one_drain_per_transaction(
    jira, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        assert enqueue_tickets(jira, 3) == 3
        assert enqueue_tickets(jira, 3) == 0  # the same causes again: nothing new
        assert enqueue_tickets(jira, 1, start=3) == 1
    assert OutboxMessage.objects.count() == 4
    assert len(callbacks) == 1
    message = OutboxMessage.objects.order_by("id").first()
    assert message.status == MessageStatus.PENDING and message.attempts == 0
    assert message.ordering_key == f"{jira.pk}:{message.reference}"
    assert enqueue([]) == 0


def test_a_message_needs_a_known_kind_a_reference_and_a_key(jira):
    with pytest.raises(ValueError, match="kind"):
        NewMessage(integration=jira, kind="explode", reference="r", idempotency_key="k")
    with pytest.raises(ValueError, match="reference"):
        NewMessage(integration=jira, kind=MessageKind.UPSERT, reference="", idempotency_key="k")


def test_drain_creates_the_ticket_and_links_it(jira, fake_jira):
    enqueue_tickets(jira, 2)
    stats = drain.drain(budget_seconds=10)
    assert stats.delivered == 2 and stats.claimed == 2 and stats.dead == 0
    assert len(fake_jira.state["issues"]) == 2
    message = OutboxMessage.objects.get(reference=f"fixops-t-{jira.pk}-0")
    assert message.status == MessageStatus.DELIVERED and message.delivered_at
    assert message.lease_owner == "" and message.attempts == 1
    link = ExternalLink.objects.get(integration=jira, reference=message.reference)
    assert link.remote_key.startswith("SEC-") and link.remote_url and link.state == "open"
    assert fake_jira.with_reference(message.reference)[0]["key"] == link.remote_key
    attempt = OutboxAttempt.objects.get(message=message)
    assert attempt.outcome == AttemptOutcome.DELIVERED and attempt.number == 1
    jira.refresh_from_db()
    assert jira.last_success_at is not None and jira.breaker_state == "closed"


def test_a_later_upsert_updates_the_linked_ticket_instead_of_creating(jira, fake_jira):
    enqueue([ticket_message(jira, 1, title="first")])
    drain.drain(budget_seconds=10)
    enqueue([ticket_message(jira, 1, title="second", key="second")])
    drain.drain(budget_seconds=10)
    issues = fake_jira.with_reference(f"fixops-t-{jira.pk}-1")
    assert len(issues) == 1 and issues[0]["fields"]["summary"] == "second"


def test_transient_error_backs_off_honouring_retry_after_then_delivers(jira, fake_jira):
    enqueue_tickets(jira, 1)
    fake_jira.fail_next(1, 503, retry_after=120)
    before = timezone.now()
    stats = drain.drain(budget_seconds=10)
    assert stats.retried == 1 and stats.delivered == 0
    message = OutboxMessage.objects.get()
    assert message.status == MessageStatus.FAILED
    assert message.next_attempt_at >= before + timedelta(seconds=119)
    assert "503" in message.last_error or message.last_error
    assert drain.drain(budget_seconds=5).claimed == 0  # not due yet
    _due_now()
    assert drain.drain(budget_seconds=10).delivered == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED and message.attempts == 2
    outcomes = list(message.attempt_rows.values_list("outcome", flat=True))
    assert outcomes == [AttemptOutcome.RETRY, AttemptOutcome.DELIVERED]
    assert len(fake_jira.state["issues"]) == 1


def test_permanent_error_goes_dead_with_the_vendors_message(jira, fake_jira):
    enqueue_tickets(jira, 1)
    fake_jira.fail_next(1, 400)
    stats = drain.drain(budget_seconds=10)
    assert stats.dead == 1
    message = OutboxMessage.objects.get()
    assert message.status == MessageStatus.DEAD and message.last_error
    attempt = message.attempt_rows.get()
    assert attempt.outcome == AttemptOutcome.DEAD and attempt.http_status == 400
    jira.refresh_from_db()
    assert jira.breaker_failures == 0  # a 400 about one ticket says nothing about the vendor


def test_out_of_attempts_goes_dead(jira, fake_jira):
    enqueue_tickets(jira, 1)
    OutboxMessage.objects.update(max_attempts=2)
    fake_jira.fail_next(2, 502)
    drain.drain(budget_seconds=10)
    _due_now()
    drain.drain(budget_seconds=10)
    message = OutboxMessage.objects.get()
    assert message.status == MessageStatus.DEAD
    assert message.last_error.startswith("gave up after 2 attempts")
    assert not fake_jira.state["issues"]


def test_ambiguous_create_is_looked_up_before_creating_again(jira, fake_jira):
    enqueue_tickets(jira, 1)
    fake_jira.drop_next(1, after_commit=True)  # created, then the answer is lost
    assert drain.drain(budget_seconds=10).retried == 1
    assert len(fake_jira.state["issues"]) == 1
    _due_now()
    assert drain.drain(budget_seconds=10).delivered == 1
    assert len(fake_jira.state["issues"]) == 1  # found by reference, not created twice
    link = ExternalLink.objects.get()
    assert link.remote_key == next(iter(fake_jira.state["issues"].values()))["key"]


def test_a_dead_workers_lease_expires_and_the_message_is_claimed_again(jira, fake_jira):
    enqueue_tickets(jira, 1)
    dead_worker = drain.worker_id()
    [claimed] = drain.claim(owner=dead_worker, limit=10)
    # The dead worker had called the vendor before dying: the ticket exists, unrecorded.
    attempts.apply(attempts.Connectors().get(jira), claimed, None)
    assert drain.claim(owner=drain.worker_id(), limit=10) == []  # leased: nobody else takes it
    OutboxMessage.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    stats = drain.drain(budget_seconds=10)
    assert stats.delivered == 1
    assert len(fake_jira.state["issues"]) == 1
    message = OutboxMessage.objects.get()
    assert message.attempts == 2
    outcomes = list(message.attempt_rows.values_list("outcome", "worker"))
    assert outcomes[0] == (AttemptOutcome.LEASE_EXPIRED, dead_worker)
    assert outcomes[1][0] == AttemptOutcome.DELIVERED
    # The old owner comes back and tries to record: its lease is gone, nothing is overwritten.
    late = attempts.DrainStats()
    attempts.record(
        dead_worker, [attempts.Result(claimed, AttemptOutcome.DEAD, error="late")], late
    )
    assert late.lost_leases == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_messages_of_one_ticket_apply_in_order(jira, fake_jira):
    reference = f"fixops-t-{jira.pk}-7"
    enqueue(
        [
            ticket_message(jira, 7),
            NewMessage(
                integration=jira,
                kind=MessageKind.TRANSITION,
                reference=reference,
                payload={"status": "closed", "comment": "fixed in FixOps"},
                idempotency_key="close-7",
            ),
            NewMessage(
                integration=jira,
                kind=MessageKind.COMMENT,
                reference=reference,
                payload={"body": "verified"},
                idempotency_key="comment-7",
            ),
        ]
    )
    enqueue_tickets(jira, 2, start=100)  # other tickets drain beside it
    first = drain.claim(owner=drain.worker_id(), limit=50)
    assert sorted(m.kind for m in first if m.reference == reference) == ["upsert"]
    assert len(first) == 3
    assert drain.claim(owner=drain.worker_id(), limit=50) == []  # the close waits
    OutboxMessage.objects.update(status=MessageStatus.PENDING, lease_owner="")
    drain.drain(budget_seconds=10)
    assert OutboxMessage.objects.filter(status=MessageStatus.DELIVERED).count() == 5
    [issue] = fake_jira.with_reference(reference)
    assert issue["fields"]["status"]["name"] == "Done"
    link = ExternalLink.objects.get(reference=reference)
    assert link.state == "closed"


def test_transition_without_a_remote_object_is_dead(jira):
    enqueue(
        [
            NewMessage(
                integration=jira,
                kind=MessageKind.TRANSITION,
                reference="fixops-f-999999",
                payload={"status": "closed"},
                idempotency_key="orphan",
            )
        ]
    )
    assert drain.drain(budget_seconds=10).dead == 1
    assert "no remote object" in OutboxMessage.objects.get().last_error


def test_disabled_integrations_keep_their_messages(jira, fake_jira):
    enqueue_tickets(jira, 2)
    jira.enabled = False
    jira.save()
    assert drain.drain(budget_seconds=5).claimed == 0
    assert OutboxMessage.objects.filter(status=MessageStatus.PENDING).count() == 2


def test_backoff_grows_with_jitter_and_honours_retry_after(settings):
    settings.FIXOPS_OUTBOX_BACKOFF_BASE = 10
    settings.FIXOPS_OUTBOX_BACKOFF_MAX = 100
    first = [attempts.backoff_seconds(1) for _ in range(50)]
    assert all(5 <= d <= 10 for d in first) and len(set(first)) > 1
    assert all(50 <= attempts.backoff_seconds(8) <= 100 for _ in range(20))  # capped
    assert attempts.backoff_seconds(1, retry_after=300) == 300


@pytest.mark.django_db(transaction=True)
def test_parallel_claimers_never_take_the_same_message(acme, fake_jira, make_integration):
    jira = make_integration(acme, fake_jira)
    enqueue_tickets(jira, 300)
    taken: list[list[int]] = [[] for _ in range(4)]
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def claimer(slot: int) -> None:
        try:
            start.wait()
            while batch := drain.claim(owner=drain.worker_id(), limit=7):
                taken[slot].extend(m.id for m in batch)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    everything = [i for ids in taken for i in ids]
    assert len(everything) == len(set(everything)) == 300
    assert sum(1 for ids in taken if ids) >= 2  # they really ran side by side
    owners = OutboxMessage.objects.values_list("lease_owner", flat=True).distinct()
    assert len(owners) >= 2


def test_beat_drains_every_few_seconds(settings):

    call_command("sync_schedules", stdout=StringIO())
    task = PeriodicTask.objects.get(name="drain outbox")
    assert task.task == "fixops.connectors.drain"
    assert task.interval.every == settings.FIXOPS_OUTBOX_POLL_SECONDS <= 10


def test_the_drain_task_runs_the_drain(jira, fake_jira):
    enqueue_tickets(jira, 2)
    assert drain_task.run(reason="test")["delivered"] == 2
    assert len(fake_jira.state["issues"]) == 2


def test_the_commit_trigger_never_breaks_the_caller(
    jira, settings, django_capture_on_commit_callbacks, broker_down
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        enqueue_tickets(jira, 1)
    assert OutboxMessage.objects.count() == 1  # committed; beat will drain it
