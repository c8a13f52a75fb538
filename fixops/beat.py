"""Beat that may run twice: django-celery-beat's database scheduler, active only in the
process holding a PostgreSQL advisory lock (docs/operations.md, "Beat").

Every beat process asks for the lock at each tick (every FIXOPS_BEAT_STANDBY_SECONDS while it
waits). The leader holds it on a connection of its own for as long as it lives; when it dies
its session ends and the lock with it, and a survivor takes over at its next tick. The
lock's connection asks the server to probe it every few seconds, so a leader whose host
vanished without closing its socket also loses the lock within ~25 s. A new leader re-reads
every schedule, with the last run times the old one saved after each task it sent
(CELERY_BEAT_SYNC_EVERY = 1), so a takeover fires nothing twice.

On SQLite (the embedded stack, one machine) there is no lock: the one beat leads.
"""

from __future__ import annotations

import contextlib
import logging

import psycopg
from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)
LOCK_KEY = 0x66697865_6F707362  # an arbitrary constant: one beat lock per database
# Server-side TCP keepalive of the lock's connection: a silent peer is dropped in ~25 s.
KEEPALIVE = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
}


class LeaderScheduler(DatabaseScheduler):
    def __init__(self, *args, **kwargs) -> None:
        self._lock: psycopg.Connection | None = None
        self._leading = False
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
        if not self._lead():
            return settings.FIXOPS_BEAT_STANDBY_SECONDS
        return super().tick(*args, **kwargs)

    def _lead(self) -> bool:
        db = settings.DATABASES["default"]
        if db["ENGINE"] != "django.db.backends.postgresql":
            return True
        if self._leading:
            try:
                self._lock.execute("SELECT 1")
                return True
            except psycopg.Error:
                logger.warning("beat: lost the leader lock's connection; standing by")
                self._release()
                return False
        try:
            if self._lock is None:
                self._lock = psycopg.connect(
                    dbname=db["NAME"], user=db["USER"], password=db.get("PASSWORD") or None,
                    host=db["HOST"] or None, port=db["PORT"] or None, autocommit=True,
                    application_name="fixops-beat-leader",
                    options=" ".join(f"-c {k}={v}" for k, v in KEEPALIVE.items()),
                )  # fmt: skip
            taken = self._lock.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone()[0]
        except psycopg.Error as exc:
            logger.warning("beat: cannot reach the database for the leader lock: %s", exc)
            self._release()
            return False
        if taken:
            self._leading = True
            self._initial_read = True  # the old leader's last run times, fresh from the database
            logger.info("beat: leading (advisory lock %s)", LOCK_KEY)
        return taken

    def _release(self) -> None:
        self._leading = False
        if self._lock is not None:
            with contextlib.suppress(psycopg.Error):
                self._lock.close()
            self._lock = None

    def close(self) -> None:
        super().close()
        self._release()
