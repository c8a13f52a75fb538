"""Platform tasks."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="fixops.heartbeat", ignore_result=True)
def heartbeat_task(source: str = "beat") -> str:
    """Scheduled by beat; its row on /readyz proves broker, worker and beat all work."""
    from fixops.services import heartbeat_record

    return heartbeat_record(source=source).last_seen.isoformat()
