"""Celery tasks of the read side (thin wrappers)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="fixops.workspace.analytics_refresh", acks_late=True, ignore_result=True)
def analytics_refresh_task(tenant_id: int | None = None) -> int:
    """Recompute the analytics snapshot of one tenant or of all (beat: every 5 minutes)."""
    from apps.workspace.services import analytics_refresh

    return analytics_refresh(tenant_id=tenant_id)
