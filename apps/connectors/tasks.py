"""Celery wrappers for the outbox and reconciliation (thin: the work is in drain.py and
reconcile.py)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="fixops.connectors.drain", acks_late=True, ignore_result=True)
def drain_task(*, reason: str = "beat", integration_id: int | None = None) -> dict[str, int]:
    """Deliver due outbox messages until none is left or the time budget is spent. Triggered
    after each commit that wrote messages and by beat; safe to run any number of times in
    parallel (claims are exclusive)."""
    from apps.connectors.drain import drain

    return drain(integration_id=integration_id).as_dict()


@shared_task(name="fixops.connectors.reconcile", acks_late=True, ignore_result=True)
def reconcile_task() -> dict[int, dict]:
    """Read linked tickets back from every enabled tracker integration (breaker not open),
    record and repair drift. Idempotent: a second run records nothing new."""
    from apps.connectors.reconcile import reconcile_all

    return reconcile_all()


@shared_task(name="fixops.connectors.inbox_process", acks_late=True, ignore_result=True)
def inbox_process_task(*, reason: str = "beat") -> dict[str, int]:
    """Apply the inbox's due webhook deliveries until none is left or the time budget is
    spent. Triggered after each commit that stored a delivery and by beat; safe to run any
    number of times in parallel (claims are exclusive, each delivery applies once)."""
    from apps.connectors.inbound.inbox import inbox_drain

    return inbox_drain().as_dict()
