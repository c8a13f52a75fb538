"""Real Celery worker processes on the real broker (Redis), for the crash and bench tests.

Each worker is `celery -A fixops worker` in its own process group, on a queue of its own (so
parallel test runs never share tasks), with the test database and the given settings in its
environment. `kill()` is SIGKILL to the whole group: no shutdown, no acknowledgement.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from celery import Celery
from django.apps import apps as django_apps
from django.db import connection
from kombu import pools

ROOT = Path(__file__).resolve().parents[2]


class Worker:
    def __init__(self, *, queue: str, broker: str, log: Path, env: dict[str, str], pool: str):
        self.queue, self.broker, self.log_path = queue, broker, log
        self.env, self.pool = env, pool
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> Worker:
        db = connection.settings_dict
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "fixops.settings.test",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "CELERY_BROKER_URL": self.broker,
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
        self._log = self.log_path.open("ab")
        self._offset = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "fixops",
                "worker",
                "-Q",
                self.queue,
                "-P",
                self.pool,
                "-c",
                "1",
                "-n",
                f"{uuid.uuid4().hex[:8]}@%h",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited {self.proc.returncode}: {self.output()[-3000:]}")
            if " ready." in self.output():
                return self
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"worker not ready in {timeout}s: {self.output()[-3000:]}")

    def output(self) -> str:
        with self.log_path.open("rb") as f:
            f.seek(self._offset)
            return f.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()


def reset_celery_pools(app: Celery) -> None:
    """Close every broker connection and producer pool of this process and forget them, so
    `app` builds new ones for its current broker URL at its next send.

    Closing only `app.pool` is not enough: that pool is kombu's process-wide one for the
    broker URL, and kombu keeps the closed pool in its registry, so every later send to that
    URL, by any app, failed with "Acquire on closed pool" (eager tasks included: Celery takes
    a producer before running one inline)."""
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


class Broker:
    """Sends tasks to the workers' queue on Redis, as the commit trigger and beat would."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.queue = f"fixops-outbox-test-{uuid.uuid4().hex[:10]}"
        self.app = Celery("fixops-outbox-test", set_as_current=False)
        self.app.config_from_object("django.conf:settings", namespace="CELERY")
        self.app.conf.broker_url = url
        self.app.conf.broker_transport_options = {"visibility_timeout": 3600}
        self.app.autodiscover_tasks([c.name for c in django_apps.get_app_configs()], force=True)

    def drain(self, n: int = 1) -> None:
        for _ in range(n):
            self.app.send_task(
                "fixops.connectors.drain", kwargs={"reason": "test"}, queue=self.queue
            )

    def worker(self, tmp_path: Path, name: str, pool: str = "prefork", **settings) -> Worker:
        env = {k: str(v) for k, v in settings.items()}
        return Worker(
            queue=self.queue, broker=self.url, log=tmp_path / f"{name}.log", env=env, pool=pool
        )

    def purge(self) -> None:
        """Drop the test queue (and the drain tasks still in it) from the broker."""
        with self.app.connection_for_write() as conn:
            conn.default_channel.queue_purge(self.queue)
            conn.default_channel.queue_delete(self.queue)

    def close(self) -> None:
        self.app.close()


def wait_until(predicate, timeout: float, interval: float = 0.2, tick=None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if tick is not None:
            tick()
        time.sleep(interval)
    return predicate()
