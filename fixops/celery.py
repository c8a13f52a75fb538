"""The Celery application. Broker and options come from settings (components/celery.py)."""

from __future__ import annotations

import os

from celery import Celery, signals
from django.conf import settings

from fixops.platform import dbrouter, metrics, tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fixops.settings.base")

app = Celery("fixops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["fixops"])

_prerun, _postrun = metrics.task_observer()
# Each task starts unpinned from the primary (the read replica's write pin; dbrouter.py).
signals.task_prerun.connect(dbrouter.start_unit_of_work, weak=False)
signals.task_prerun.connect(_prerun, weak=False)
signals.task_postrun.connect(_postrun, weak=False)


@signals.worker_init.connect
def _worker_observability(sender=None, **_kwargs) -> None:
    # In the main process, before the pool forks (the span processor restarts its thread in
    # each child).
    tracing.configure(
        service=f"{settings.FIXOPS_TRACING_SERVICE}-worker",
        endpoint=settings.FIXOPS_TRACING_ENDPOINT,
    )
    if settings.FIXOPS_WORKER_METRICS_PORT:
        metrics.serve_worker_metrics(settings.FIXOPS_WORKER_METRICS_PORT)
