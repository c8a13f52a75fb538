"""The load test's CI smoke: tools/loadtest.py for 60 s at 20 users on a small dataset.

No timing is asserted (this machine's speed is not the point): the stack answered, without a
5xx or any error other than throttling, the CI users got decisions and the report was written
with every figure the full run prints. docs/operations.md, "Load test", has the real figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.conftest import require_service

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def database():
    """A database of its own beside the suite's, dropped afterwards."""
    name = os.environ.get("FIXOPS_TEST_DB", "test_fixops") + "_load"
    yield name
    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_short_load_run_is_served_and_reported(tmp_path, database):
    require_service("PostgreSQL", 5432)
    require_service("Redis", 6379)
    out = tmp_path / "load"
    done = subprocess.run(  # noqa: S603
        [sys.executable, "tools/loadtest.py", "--users", "20", "--spawn-rate", "10",
         "--duration", "60", "--web-workers", "2", "--tenants", "3", "--applications", "30",
         "--findings", "2000", "--other-findings", "200", "--database", database,
         "--out", str(out)],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    (step,) = report["steps"]
    assert step["users"] == 20
    served = step["requests"] - step["throttled_429"]
    assert served > 20, step
    assert step["status_5xx"] == 0, step["error_kinds"]
    assert step["errors"] == 0, step["error_kinds"]
    # Analysts and CI users both ran: reads, uploads and decisions were answered.
    assert "GET /findings/?filters" in step["endpoints"]
    assert step["ci_outcomes"].get("decided", 0) >= 1, step["ci_outcomes"]
    assert set(step["cpu"]["cpu_seconds"]) == {"gunicorn", "worker", "postgres", "locust", "other"}
    assert step["cpu"]["cpu_seconds"]["gunicorn"] > 0
    assert step["in_worker_ms"]["count"] > 0  # the access log was read for time in workers
    text = (out / "report.txt").read_text()
    assert "p95 ms" in text and "CPU share" in text
    assert "p95 ms" in done.stdout
