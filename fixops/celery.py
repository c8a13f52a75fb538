"""The Celery application. Broker and options come from settings (components/celery.py)."""

from __future__ import annotations

import os

from celery import Celery, signals
from django.conf import settings

from fixops.platform import metrics

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fixops.settings.base")

app = Celery("fixops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["fixops"])

_prerun, _postrun = metrics.task_observer()
signals.task_prerun.connect(_prerun, weak=False)
signals.task_postrun.connect(_postrun, weak=False)


@signals.worker_init.connect
def _worker_metrics(sender=None, **_kwargs) -> None:
    if settings.FIXOPS_WORKER_METRICS_PORT:
        metrics.serve_worker_metrics(settings.FIXOPS_WORKER_METRICS_PORT)
