"""Gunicorn settings FixOps needs whatever the command line says (`-c python:fixops.gunicorn_conf`):
with PROMETHEUS_MULTIPROC_DIR set, metric files of a previous run are cleared at start and a
dead worker's live gauges leave the sums (docs/operations.md, "Metrics")."""

from fixops.platform import metrics


def on_starting(server) -> None:
    metrics.clear_multiprocess_dir()


def child_exit(server, worker) -> None:
    metrics.mark_process_dead(worker.pid)
