"""Platform tasks."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="fixops.heartbeat", ignore_result=True)
def heartbeat_task(source: str = "beat") -> str:
    """Scheduled by beat; its row on /readyz proves broker, worker and beat all work."""
    from fixops.services import heartbeat_record

    return heartbeat_record(source=source).last_seen.isoformat()


@shared_task(name="fixops.backup", ignore_result=True, acks_late=False)
def backup_task() -> str:
    """Scheduled daily when FIXOPS_BACKUP_DIR is set; never redelivered (a backup interrupted
    half-way leaves only its temporary file, removed, and the next day's runs)."""
    from fixops.backups import backup_scheduled

    return str(backup_scheduled().path)
