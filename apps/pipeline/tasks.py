"""Celery wrappers for the pipeline's flows and reactions (task names predate the pipeline app
and stay, so queued work survives an upgrade)."""

from __future__ import annotations

from celery import shared_task


@shared_task(
    name="fixops.findings.scan_process", bind=True, acks_late=True, ignore_result=True,
    max_retries=6,
)  # fmt: skip
def scan_process_task(self, *, scan_id: int) -> str | None:
    """Import a queued (large) upload; safe to run twice. Retried (5 s, 10 s, ... 60 s) when
    the database went away mid-import; after that the sweeper owns the scan."""
    from apps.pipeline.ingest import ImportInterrupted, scan_process

    try:
        scan = scan_process(scan_id=scan_id)
    except ImportInterrupted as exc:
        raise self.retry(countdown=min(60, 5 * 2**self.request.retries)) from exc
    return scan.status if scan else None


@shared_task(name="fixops.pipeline.scans_sweep", acks_late=True, ignore_result=True)
def scans_sweep_task() -> dict[str, int]:
    """Re-queue (or fail) queued scans a lost broker message or a dead worker left behind;
    safe to run twice (each scan is re-checked under its row lock)."""
    from apps.pipeline.ingest import scans_sweep

    return scans_sweep()


@shared_task(name="fixops.findings.risk_refresh", acks_late=True, ignore_result=True)
def risk_refresh_task(*, application_id: int) -> int:
    """Re-score an application's findings (after a large import); safe to run twice."""
    from apps.intel.scoring import risk_refresh

    return risk_refresh(application_id=application_id)


@shared_task(name="fixops.pipeline.events_sweep", acks_late=True, ignore_result=True)
def events_sweep_task() -> int:
    """Hand pending events (a crash between commit and handling, a failed handler) to their
    handlers again and purge handled ones older than a week; safe to run twice."""
    from datetime import timedelta

    from fixops.platform.events import purge_handled, sweep

    handled = sweep()
    purge_handled(older_than=timedelta(days=7))
    return handled


@shared_task(name="fixops.pipeline.retention", ignore_result=True)
def retention_task() -> dict:
    """Apply every tenant's retention policy; safe to run twice (a second run finds nothing)."""
    from apps.pipeline.retention import retention_apply

    return retention_apply()
