"""Celery wrappers for policy services."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="fixops.policies.expire_acceptances", acks_late=True, ignore_result=True)
def expire_acceptances_task() -> int:
    """Expire approved acceptances past their date; safe to run twice (rows are locked and
    re-checked, an expired acceptance is skipped)."""
    from apps.policies.acceptances import acceptances_expire

    return acceptances_expire()
