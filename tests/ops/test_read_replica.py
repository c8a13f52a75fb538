"""The read replica against a real PostgreSQL streaming standby: a private primary
(tests/ops/stack.py), `pg_basebackup -R` into another directory, the standby started on
another port, and FixOps run with DATABASE_URL and DATABASE_REPLICA_URL
(tests/ops/replica_actions.py). The standby's replay is paused after the first import, so the
count a read returns shows where it ran: 12 open findings on the replica, 20 on the primary.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.connectors.workers import ROOT
from tests.ops import stack

pytestmark = [pytest.mark.slow]


@pytest.fixture
def primary_and_replica():
    why = stack.available()
    if why:
        pytest.fail(f"the replica test needs PostgreSQL 15 binaries: {why}")
    root = Path(tempfile.mkdtemp(prefix="replica-", dir=os.environ.get("TMPDIR", "/tmp")))
    root.chmod(0o755)  # the postgres user goes through it to its own directories
    primary = stack.Postgres(root)
    replica = None
    try:
        primary.init().start()
        primary.createdb("fixops")
        replica = primary.basebackup_replica(root)
        replica.start()
        yield root, primary, replica
    finally:
        if replica is not None:
            replica.remove()
        primary.remove()
        shutil.rmtree(root, ignore_errors=True)


def test_replica_safe_reads_reach_the_standby_and_reads_after_a_write_do_not(primary_and_replica):
    root, primary, replica = primary_and_replica
    env = {
        **os.environ,
        **stack.fixops_env(
            root / "var",
            DATABASE_URL=primary.url("fixops"),
            DATABASE_REPLICA_URL=replica.url("fixops"),
            FIXOPS_INGEST_ASYNC_BYTES=str(16 * 1024 * 1024),  # imported in the request
        ),
    }

    def run(*argv: str) -> str:
        done = subprocess.run(
            [sys.executable, *argv], check=False, cwd=ROOT, env=env, capture_output=True,
            text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
        return done.stdout.strip().splitlines()[-1]

    run("manage.py", "migrate", "--no-input")  # on the primary only; the standby replays it
    out = json.loads(run("-m", "tests.ops.replica_actions"))
    print(f"\nread replica: {json.dumps(out)}")  # noqa: T201

    assert out["standby"] is True
    # A unit of work that wrote reads its own write: the primary, 20.
    count, ran = out["after_write"]
    assert count == 20 and ran["replica"] == 0
    # A fresh unit: the replica-safe aggregates run on the standby (paused: 12).
    count, ran = out["fresh_unit"]
    assert count == 12 and ran["replica"] > 0 and ran["default"] == 0
    # Inside a transaction: the primary.
    count, ran = out["in_atomic"]
    assert count == 20 and ran["replica"] == 0
    # A read not marked replica-safe: the primary.
    count, ran = out["not_marked"]
    assert count == 20 and ran == {"default": 1, "replica": 0}
    # The beat's refresh: aggregates on the standby, the snapshot written to the primary.
    _, ran = out["refresh"]
    assert ran["replica"] > 0 and ran["default"] > 0
    # Replay resumed and caught up: the standby has the second import.
    count, ran = out["resumed"]
    assert count == 20 and ran["replica"] > 0 and ran["default"] == 0
