"""Chaos: FixOps on a PostgreSQL and a Redis of the test's own (tests/ops/stack.py), two real
Celery workers and one beat with production connection settings (persistent connections,
health checks), and the fake GitLab. Each of PostgreSQL and Redis is restarted while an import
and an outbox drain are provably in flight:

- the import: its scan is `processing` under a worker's lease and the worker's import
  transaction waits on the application's row lock, which the test holds (pg_stat_activity
  shows the wait) — the restart lands inside the import's transaction;
- the drain: outbox messages are `in_flight` and the fake GitLab has created an issue but holds
  its answer until after the restart — the worst moment: the ticket exists, the delivery is
  not recorded;
- (Redis) a third upload's task is still in the broker, not taken by a busy worker: the
  restart (no persistence) loses it.

Then, with no manual step (beat and the workers only): every scan imported with all its
findings, every outbox message delivered, exactly one issue per reference at the fake, and
the time from the restart to all of that printed and bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from tests.connectors.workers import ROOT, Worker, wait_until
from tests.fakes.gitlab import FakeGitLab
from tests.ops import stack

pytestmark = [pytest.mark.slow]

RECOVERY_BOUND = 150  # seconds, restart -> everything done; the sweeper runs every 60 s


class HoldingGitLab(FakeGitLab):
    """Creates the issue, then holds its answer while `gate` is closed."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()
        self.held = 0

    def create_issue(self, req, pid):
        response = super().create_issue(req, pid)
        if not self.gate.is_set():
            with self.lock:
                self.held += 1
            self.gate.wait(60)
        return response

    def per_reference(self) -> Counter:
        with self.lock:
            return Counter(
                label for issue in self.state["issues"].values() for label in issue["labels"]
            )


class Chaos:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.pg = stack.Postgres(tmp)
        self.redis = stack.Redis(tmp)
        self.gitlab = HoldingGitLab()
        self.workers: list[Worker] = []
        self.beat: subprocess.Popen | None = None
        self.expected: dict[str, int] = {}  # application -> findings
        self.scans: list[int] = []

    # -- the stack ------------------------------------------------------------------------------

    def up(self) -> None:
        self.pg.init().start()
        self.pg.createdb("fixops")
        self.redis.start()
        self.gitlab.start()
        self.env = stack.fixops_env(
            self.tmp / "var",
            DATABASE_URL=self.pg.url("fixops"),
            CELERY_BROKER_URL=self.redis.url,
            FIXOPS_INGEST_ASYNC_BYTES="1",  # every upload is imported by a worker
            FIXOPS_SCAN_LEASE_SECONDS="15",
            FIXOPS_SCAN_STUCK_SECONDS="10",
            FIXOPS_OUTBOX_POLL_SECONDS="2",
            FIXOPS_HEARTBEAT_SECONDS="5",
        )
        self.manage("migrate", "--no-input")
        seeded = json.loads(self.action("seed", self.gitlab.url))
        self.tenant, self.integration = seeded["tenant"], seeded["integration"]
        self.start_beat()

    def down(self) -> None:
        self.gitlab.gate.set()
        for worker in self.workers:
            with contextlib.suppress(Exception):
                worker.kill()
        if self.beat and self.beat.poll() is None:
            os.killpg(self.beat.pid, 9)
            self.beat.wait(10)
        self.gitlab.stop()
        self.redis.remove()
        self.pg.remove()

    def _run(self, argv: list[str]) -> str:
        env = {**os.environ, **self.env}
        done = subprocess.run(
            argv, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
        return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""

    def manage(self, *args: str) -> str:
        return self._run([sys.executable, "manage.py", *args])

    def action(self, *args: object) -> str:
        return self._run([sys.executable, "-m", "tests.ops.chaos_actions", *map(str, args)])

    def start_workers(self, n: int = 2) -> None:
        self.workers = [
            Worker(
                queue="fixops",
                broker=self.redis.url,
                log=self.tmp / f"worker-{len(self.scans)}-{i}.log",
                env=self.env,
                pool="prefork",
            ).start()  # fmt: skip
            for i in range(n)
        ]

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers = []

    def start_beat(self) -> None:
        log = (self.tmp / "beat.log").open("ab")
        self.beat = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "fixops", "beat", "-l", "INFO"],
            cwd=ROOT, env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()

    # -- reading the database (plain psycopg: it must survive the restarts) -------------------

    def query(self, sql: str, *params):
        try:
            with self.pg.connect("fixops") as conn:
                return conn.execute(sql, params).fetchall()
        except psycopg.OperationalError:
            return None

    def scan_state(self, scan_id: int) -> tuple[str, str] | None:
        rows = self.query("SELECT status, lease_owner FROM findings_scan WHERE id = %s", scan_id)
        return rows[0] if rows else None

    # -- one experiment -------------------------------------------------------------------------

    def upload(self, application: str, results: int, offset: int) -> int:
        scan_id = int(self.action("upload", self.tenant, application, results, offset))
        self.expected[application] = self.expected.get(application, 0) + results
        self.scans.append(scan_id)
        return scan_id

    def put_in_flight(self, application: str, first_ticket: int) -> tuple[int, psycopg.Connection]:
        """Workers down: queue an upload and ten tickets, lock the application's row, close
        the fake's gate, start the workers; return once the import waits inside its
        transaction and a drain waits on the vendor."""
        self.stop_workers()
        scan_id = self.upload(application, 30, offset=first_ticket)
        self.action("tickets", self.integration, first_ticket, 10)
        [(application_id,)] = self.query(
            "SELECT application_id FROM findings_scan WHERE id = %s", scan_id
        )
        holder = self.pg.connect("fixops")
        holder.execute("SELECT id FROM findings_application WHERE id = %s FOR UPDATE",
                       (application_id,))  # fmt: skip
        self.gitlab.gate.clear()
        held_before = self.gitlab.held
        self.start_workers()

        def importing() -> bool:
            state = self.scan_state(scan_id)
            waits = self.query(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = 'fixops' "
                "AND wait_event_type = 'Lock'"
            )
            return bool(state and state[0] == "processing" and state[1] and waits[0][0])

        def draining() -> bool:
            rows = self.query(
                "SELECT count(*) FROM connectors_outboxmessage WHERE status = 'in_flight'"
            )
            return self.gitlab.held > held_before and bool(rows and rows[0][0])

        assert wait_until(importing, 60), self.logs()
        assert wait_until(draining, 60), self.logs()
        return scan_id, holder

    def recovered(self) -> bool:
        scans = self.query("SELECT id, status FROM findings_scan WHERE id = ANY(%s)", self.scans)
        if scans is None:
            return False
        if any(status == "failed" for _, status in scans):
            return True  # stop waiting: check_nothing_lost() says which and why
        if any(status != "done" for _, status in scans):
            return False
        pending = self.query("SELECT count(*) FROM connectors_outboxmessage "
                             "WHERE status <> 'delivered'")  # fmt: skip
        return pending is not None and pending[0][0] == 0

    def check_nothing_lost(self) -> dict:
        failed = self.query("SELECT id, error FROM findings_scan WHERE status <> 'done'")
        assert not failed, failed
        per_app = dict(
            self.query(
                "SELECT a.name, count(f.id) FROM findings_finding f "
                "JOIN findings_application a ON a.id = f.application_id GROUP BY a.name"
            )
        )
        assert per_app == self.expected, (per_app, self.expected)
        references = [r for (r,) in self.query(
            "SELECT DISTINCT reference FROM connectors_outboxmessage")]  # fmt: skip
        counts = self.gitlab.per_reference()
        duplicates = {r: counts[r] for r in references if counts[r] != 1}
        assert not duplicates, f"issues per reference at the fake: {duplicates}"
        return {"findings": sum(per_app.values()), "tickets": len(references)}

    def logs(self) -> str:
        return "\n".join(w.output()[-3000:] for w in self.workers)


@pytest.fixture
def chaos(tmp_path):
    why = stack.available()
    if why:
        pytest.fail(f"the chaos test needs PostgreSQL 15 and Redis binaries: {why}")
    root = Path(os.environ.get("TMPDIR", "/tmp"))
    lab = Chaos(Path(tempfile.mkdtemp(prefix="chaos-", dir=root)))
    lab.tmp.chmod(0o755)
    try:
        lab.up()
        yield lab
    finally:
        lab.down()
        shutil.rmtree(lab.tmp, ignore_errors=True)


def _restart_and_recover(lab: Chaos, restart, what: str, holder: psycopg.Connection) -> float:
    started = time.monotonic()
    restart()
    outage = time.monotonic() - started
    with contextlib.suppress(Exception):
        holder.close()  # the import may go on (its connection died with the restart if PG)
    lab.gitlab.gate.set()  # the vendor answers now, to a worker that may have lost its DB
    assert wait_until(lab.recovered, RECOVERY_BOUND, interval=1), (
        f"{what}: not recovered in {RECOVERY_BOUND} s\n{lab.logs()}"
    )
    recovery = time.monotonic() - started
    print(  # noqa: T201 - the figure the issue asks for
        f"\nchaos: {what} restarted in {outage:.1f} s; every scan imported and every message "
        f"delivered {recovery:.1f} s after the restart began (bound {RECOVERY_BOUND} s)"
    )
    return recovery


def test_killed_connections_requeue_the_import_instead_of_failing_it(chaos):
    """Every connection to the database killed (a failover, a pooler restart) while the
    database stays up: the interrupted import is released and retried, not failed as
    `import_failed` (it was, before: its report was deleted and its findings never written)."""
    lab = chaos
    scan_id, holder = lab.put_in_flight("shop", first_ticket=0)

    def kill_connections() -> None:
        with lab.pg.connect(autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = 'fixops' AND pid <> pg_backend_pid()")  # fmt: skip

    _restart_and_recover(lab, kill_connections, "every database connection killed;", holder)
    lab.check_nothing_lost()
    actions = [
        a
        for (a,) in lab.query(
            "SELECT action FROM platform_auditevent WHERE target_type = 'findings.scan' "
            "AND target_id = %s ORDER BY id",
            str(scan_id),
        )
    ]
    assert "scan.release" in actions, actions


def test_postgres_and_redis_restarts_lose_nothing_and_duplicate_nothing(chaos):
    lab = chaos
    # 1. PostgreSQL, immediate shutdown (every backend killed) and start.
    scan_id, holder = lab.put_in_flight("shop", first_ticket=0)
    _restart_and_recover(lab, lab.pg.restart, "PostgreSQL", holder)
    first = lab.check_nothing_lost()

    # 2. Redis, SIGKILL and start, with no persistence: a queued task is lost too.
    scan_id, holder = lab.put_in_flight("api", first_ticket=100)
    lost = lab.upload("web", 20, offset=500)  # both workers are busy: it waits in Redis
    assert lab.scan_state(lost)[0] == "queued"
    _restart_and_recover(lab, lab.redis.restart, "Redis", holder)
    second = lab.check_nothing_lost()
    assert second["findings"] == first["findings"] + 50
    print(f"chaos: {second['findings']} findings, {second['tickets']} tickets, none lost, "  # noqa: T201
          "none twice")  # fmt: skip
