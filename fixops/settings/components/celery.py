"""Celery: broker from CELERY_BROKER_URL; beat schedules live in the database (django-celery-beat).

The embedded default is kombu's filesystem transport, which needs no server: web, worker and
beat on one machine exchange messages through folders under var/celery.
"""

from __future__ import annotations

from fixops.env import env, var_dir

_celery_dir = var_dir() / "celery"

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "control_folder": str(_celery_dir / "control"),
        "processed_folder": str(_celery_dir / "processed"),
        "store_processed": False,
    }
    for _folder in ("queue", "control", "processed"):
        (_celery_dir / _folder).mkdir(parents=True, exist_ok=True)
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A task not acknowledged within this window is redelivered (acks_late tasks survive a
    # dead worker); it must exceed the longest task.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}

# Task state lives in our own tables (scans, outbox), so no result backend is needed.
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "fixops"
CELERY_TIMEZONE = "UTC"
# Only the beat holding a PostgreSQL advisory lock schedules, so two may run (fixops/beat.py);
# each task sent is saved at once, so a beat taking over never sends it again.
CELERY_BEAT_SCHEDULER = "fixops.beat:LeaderScheduler"
CELERY_BEAT_SYNC_EVERY = 1
FIXOPS_BEAT_STANDBY_SECONDS = env.int("FIXOPS_BEAT_STANDBY_SECONDS", default=5)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=25 * 60)
