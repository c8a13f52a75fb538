"""Metrics under real process pools: gunicorn with several workers and a Celery prefork
worker, each with PROMETHEUS_MULTIPROC_DIR. Whichever process answers a scrape, it shows the
sum over all of them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from celery import Celery
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sample(text: str, name: str, **labels) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def environment(tmp_path: Path, metrics_dir: Path, **extra) -> dict[str, str]:
    db = connection.settings_dict
    metrics_dir.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fixops.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "FIXOPS_VAR_DIR": str(tmp_path / "var"),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def wait_for(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.2)
    pytest.fail(log.read_text()[-3000:])


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_gunicorn_workers_sum_into_every_scrape(tmp_path):
    port = free_port()
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "fixops.wsgi:application", "-c",
             "python:fixops.gunicorn_conf", "--workers", "3", "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT, env=environment(tmp_path, tmp_path / "metrics-web"), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/healthz", proc, log)
        before = requests.get(f"{base}/metrics", timeout=10).text
        ok = {"route": "healthz", "method": "GET", "status": "200"}
        start = sample(before, "fixops_http_requests_total", **ok)
        session = requests.Session()
        for _ in range(90):
            assert session.get(f"{base}/healthz", timeout=10).status_code == 200
        for _ in range(9):  # new connections: several workers answer the scrapes
            text = requests.get(f"{base}/metrics", timeout=10).text
            assert sample(text, "fixops_http_requests_total", **ok) - start == 90
        assert len(os.listdir(tmp_path / "metrics-web")) >= 2  # one file per worker at least
    finally:
        stop(proc)


def test_a_prefork_worker_serves_its_pool_task_metrics(tmp_path, redis_url):
    queue = f"fixops-metrics-{uuid.uuid4().hex[:8]}"
    port = free_port()
    log = tmp_path / "worker.log"
    env = environment(
        tmp_path,
        tmp_path / "metrics-worker",
        CELERY_BROKER_URL=redis_url,
        FIXOPS_WORKER_METRICS_PORT=str(port),
    )
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "fixops", "worker", "-Q", queue, "-P",
             "prefork", "-c", "2", "-n", f"{queue}@%h", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    sender = Celery("metrics-test", broker=redis_url, set_as_current=False)
    try:
        wait_for(f"http://127.0.0.1:{port}/metrics", proc, log)
        for n in range(12):
            sender.send_task("fixops.heartbeat", kwargs={"source": f"m{n}"}, queue=queue)
        deadline = time.monotonic() + 60
        done = 0.0
        while time.monotonic() < deadline and done < 12:
            text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            done = sample(
                text, "fixops_celery_tasks_total", task="fixops.heartbeat", outcome="succeeded"
            )
            time.sleep(0.3)
        assert done == 12, log.read_text()[-3000:]
        # both pool processes ran some (their files are summed), not the main process only
        assert len([f for f in os.listdir(tmp_path / "metrics-worker") if f.endswith(".db")]) >= 2
    finally:
        sender.close()
        stop(proc)
