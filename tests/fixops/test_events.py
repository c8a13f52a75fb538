"""Platform events: written in the change's transaction, handled once after commit, kept and
retried when a handler fails, purged once handled."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from fixops.platform import events
from fixops.platform.models import Event

pytestmark = pytest.mark.django_db

TOPIC = "test.thing"


@pytest.fixture
def seen(monkeypatch):
    """Handlers of TOPIC for this test only: records what they were given."""
    monkeypatch.setattr(events, "_handlers", type(events._handlers)(list))
    calls: list[dict] = []
    events.subscribe(TOPIC, lambda event: calls.append(event.payload))
    return calls


def test_an_event_is_handled_after_commit_and_only_once(seen, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        event = events.emit(topic=TOPIC, tenant_id=1, payload={"n": 1})
        assert seen == []  # nothing runs before commit
    assert seen == [{"n": 1}]
    event.refresh_from_db()
    assert event.handled_at is not None and event.attempts == 1
    assert events.handle(event) is False  # the sweeper or a flow racing the dispatch: no-op
    assert events.sweep() == 0
    assert seen == [{"n": 1}]


def test_a_rolled_back_change_leaves_no_event(seen, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks(execute=True)
    with capture, pytest.raises(RuntimeError), transaction.atomic():
        events.emit(topic=TOPIC, tenant_id=1, payload={})
        raise RuntimeError("the change failed")
    assert not Event.objects.exists() and seen == []


def test_a_failing_handler_keeps_the_event_for_the_sweeper(seen):
    broken = {"fail": True}

    def flaky(event):
        if broken["fail"]:
            raise ValueError("vendor down")

    events.subscribe(TOPIC, flaky)
    event = events.emit(topic=TOPIC, tenant_id=1, payload={"n": 2})
    assert events.handle(event) is False
    event.refresh_from_db()
    assert event.handled_at is None and event.attempts == 1
    assert event.last_error == "ValueError: vendor down"
    # The back-off has not passed yet: the sweeper leaves it.
    assert events.sweep(now=timezone.now()) == 0
    broken["fail"] = False
    later = timezone.now() + events.RETRY_STEP * 2
    assert events.sweep(now=later) == 1
    event.refresh_from_db()
    assert event.handled_at is not None and event.last_error == ""


def test_handled_events_are_purged_after_the_retention(seen):
    old = events.emit(topic=TOPIC, tenant_id=1, payload={})
    events.handle(old)
    pending = Event.objects.create(topic=TOPIC, tenant_id=1, payload={})
    Event.objects.filter(pk=old.pk).update(handled_at=timezone.now() - timedelta(days=8))
    assert events.purge_handled(older_than=timedelta(days=7)) == 1
    assert list(Event.objects.values_list("pk", flat=True)) == [pending.pk]
