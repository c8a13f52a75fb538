"""Celery wrappers for findings services."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="fixops.findings.retire_stale_streams", acks_late=True, ignore_result=True)
def retire_stale_streams_task() -> dict[str, int]:
    """Retire scan streams silent for FIXOPS_STREAM_STALE_DAYS; safe to run twice (a retired
    stream is skipped, rows are re-checked under the application's lock)."""
    from apps.findings.streams import streams_retire_stale

    return streams_retire_stale()


@shared_task(name="fixops.findings.sla_breaches", acks_late=True, ignore_result=True)
def sla_breaches_task() -> int:
    """Announce open findings past their SLA due_at; safe to run twice (each finding records
    the due_at it was announced for)."""
    from apps.findings.sla import sla_breaches_announce

    return sla_breaches_announce()
