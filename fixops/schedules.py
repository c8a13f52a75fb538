"""Periodic tasks declared in code; `manage.py sync_schedules` writes them to django-celery-beat.

Each entry: a unique name, the task's registered name, and either `every` (seconds) or
`crontab` (minute hour day_of_month month_of_year day_of_week). Later issues add feeds
(EPSS, KEV), the outbox drain and acceptance expiry here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str
    description: str
    every: int | None = None  # seconds
    crontab: str | None = None  # "m h dom mon dow"
    kwargs: dict = field(default_factory=dict)


def schedules() -> list[Schedule]:
    """The schedules in force (read at call time, so settings overrides apply)."""
    return [
        Schedule(
            name="platform heartbeat",
            task="fixops.heartbeat",
            # Every FIXOPS_HEARTBEAT_SECONDS (30 s by default): /readyz shows the last beat.
            every=settings.FIXOPS_HEARTBEAT_SECONDS,
            description="Proves beat, broker and worker work end to end; shown on /readyz.",
        ),
    ]
