"""Two beats may run: only the one holding the PostgreSQL advisory lock schedules, and a
survivor takes over when the leader dies (fixops/beat.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from django.core.management import call_command
from django.db import connection

from fixops.beat import LeaderScheduler
from fixops.celery import app

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db(transaction=True)
def test_one_scheduler_leads_and_a_survivor_takes_over():
    first, second = LeaderScheduler(app=app, lazy=True), LeaderScheduler(app=app, lazy=True)
    try:
        assert first._lead() is True
        assert second._lead() is False  # the lock is held: it stands by
        assert second.tick() == 5  # and only asks again FIXOPS_BEAT_STANDBY_SECONDS later
        first._lock.close()  # the leader's session ends (a crash, a lost host)
        assert first._lead() is False  # it notices, and stands by
        # The server ends the dead session (and frees the lock) a moment after the socket goes.
        deadline = time.monotonic() + 5
        while not second._lead() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert second._leading
        assert first._lead() is False
    finally:
        first._release()
        second._release()


def start_beat(tmp_path: Path, name: str, broker: str) -> tuple[subprocess.Popen, Path]:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fixops.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": broker,
        "FIXOPS_VAR_DIR": str(tmp_path / name),
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / f"{name}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "fixops", "beat", "-l", "INFO", "--pidfile="],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    return proc, log


def wait_for_text(log: Path, text: str, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text():
            return time.monotonic()
        time.sleep(0.2)
    return None


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_beats_for_two_minutes_fire_each_task_once_per_period(tmp_path, settings):
    broker = "redis://127.0.0.1:6379/13"
    queue = redis.Redis.from_url(broker)
    queue.flushdb()
    settings.FIXOPS_HEARTBEAT_SECONDS = 5
    call_command("sync_schedules", stdout=open(os.devnull, "w"))  # noqa: SIM115
    fired: list[tuple[float, str]] = []
    stop = threading.Event()

    def consume() -> None:  # what beat sent, as a worker would receive it
        reader = redis.Redis.from_url(broker)
        while not stop.is_set():
            item = reader.blpop(["fixops"], timeout=1)
            if item:
                fired.append((time.monotonic(), json.loads(item[1])["headers"]["task"]))

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    a, a_log = start_beat(tmp_path, "a", broker)
    b = None
    try:
        assert wait_for_text(a_log, "leading", 60), a_log.read_text()[-2000:]
        b, b_log = start_beat(tmp_path, "b", broker)
        started = time.monotonic()
        time.sleep(60)
        os.killpg(a.pid, signal.SIGKILL)  # the leader dies without a word
        killed = time.monotonic()
        took_over = wait_for_text(b_log, "leading", 30)
        assert took_over is not None, b_log.read_text()[-2000:]
        time.sleep(max(0.0, started + 120 - time.monotonic()))
    finally:
        stop.set()
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        consumer.join(5)
        queue.flushdb()
    beats = [t for t, task in fired if task == "fixops.heartbeat" and t >= started]
    before_kill = [t for t in beats if t < killed]
    after_takeover = [t for t in beats if t >= took_over + 5]
    # Every 5 s while A led (none from the standby B), and again once B took over.
    assert 11 <= len(before_kill) <= 13, len(before_kill)
    end = started + 120
    assert len(after_takeover) >= int((end - took_over - 5) / 5) - 1
    gaps = [later - earlier for earlier, later in zip(beats, beats[1:], strict=False)]
    assert min(gaps) > 3.5, "a heartbeat was sent twice"
    assert took_over - killed <= 30
    drains = [t for t, task in fired if task == "fixops.connectors.drain" and t < killed]
    assert all(b - a > 3.5 for a, b in zip(drains, drains[1:], strict=False))
