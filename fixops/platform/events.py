"""Emit events in the caller's transaction; hand them to subscribers after commit.

    emit(topic="finding.changed", tenant_id=1, payload={...})   # inside the change's atomic()
    subscribe("finding.changed", handler)                       # by an upper layer, at ready()

`handle` runs an event's handlers in a transaction of their own and marks it handled; an event
already handled (by an after-commit dispatch, the sweeper or an explicit call) is skipped, so
the three routes can race safely. A failing handler leaves the event pending with its error;
`sweep` (beat) retries it with a growing delay.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from fixops.platform.models import Event

logger = logging.getLogger(__name__)

Handler = Callable[[Event], None]
_handlers: dict[str, list[Handler]] = defaultdict(list)

# An event whose handlers failed waits attempts x this before the sweeper retries it.
RETRY_STEP = timedelta(seconds=30)
MAX_ATTEMPTS = 20


def subscribe(topic: str, handler: Handler) -> None:
    """Run `handler(event)` for every event of `topic` (idempotent registration)."""
    if handler not in _handlers[topic]:
        _handlers[topic].append(handler)


def emit(*, topic: str, tenant_id: int | None, payload: dict) -> Event:
    """Record an event in the current transaction; its handlers run after commit."""
    event = Event.objects.create(topic=topic, tenant_id=tenant_id, payload=payload)
    event_id = event.pk
    transaction.on_commit(lambda: handle_ids([event_id]), robust=True)
    return event


def handle_ids(ids: Iterable[int]) -> int:
    """Handle the pending events among `ids`; returns how many were handled."""
    return sum(1 for event_id in ids if _handle_one(event_id))


def handle(event: Event) -> bool:
    """Handle one event now (the caller need not wait for commit); False if already handled."""
    return _handle_one(event.pk)


def _handle_one(event_id: int) -> bool:
    try:
        with transaction.atomic():
            event = (
                Event.objects.select_for_update(skip_locked=True)
                .filter(pk=event_id, handled_at__isnull=True)
                .first()
            )
            if event is None:
                return False
            for handler in _handlers.get(event.topic, ()):
                handler(event)
            event.handled_at = timezone.now()
            event.attempts += 1
            event.last_error = ""
            event.save(update_fields=["handled_at", "attempts", "last_error"])
        return True
    except Exception as exc:  # a handler failed: keep the event for the sweeper
        logger.exception("event %s failed; left pending for the sweeper", event_id)
        Event.objects.filter(pk=event_id).update(
            attempts=F("attempts") + 1, last_error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        return False


def sweep(*, limit: int = 500, now=None) -> int:
    """Retry pending events whose back-off has passed (beat); returns how many were handled."""
    now = now or timezone.now()
    pending = Event.objects.filter(handled_at__isnull=True, attempts__lt=MAX_ATTEMPTS).values_list(
        "pk", "attempts", "created_at"
    )[:limit]
    due = [pk for pk, attempts, created in pending if created + RETRY_STEP * attempts <= now]
    return handle_ids(due)


def purge_handled(*, older_than: timedelta, now=None) -> int:
    """Delete handled events older than `older_than` (they have done their work)."""
    cutoff = (now or timezone.now()) - older_than
    deleted, _ = Event.objects.filter(handled_at__isnull=False, handled_at__lt=cutoff).delete()
    return deleted
