"""Celery wrappers for findings services."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="fixops.findings.scan_process", acks_late=True, ignore_result=True)
def scan_process_task(*, scan_id: int) -> str | None:
    """Import a queued (large) upload; safe to run twice."""
    from apps.findings.services import scan_process

    scan = scan_process(scan_id=scan_id)
    return scan.status if scan else None


@shared_task(name="fixops.findings.risk_refresh", acks_late=True, ignore_result=True)
def risk_refresh_task(*, application_id: int) -> int:
    """Re-score an application's findings (after a large import); safe to run twice."""
    from apps.intel.scoring import risk_refresh

    return risk_refresh(application_id=application_id)
