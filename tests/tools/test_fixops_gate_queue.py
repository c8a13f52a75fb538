"""tools/fixops_gate.py and the upload queue: a failed or stuck queued scan exits 3 saying
which and why; a 429 (or a 503 with Retry-After) is retried after its Retry-After, a bounded
number of times and never past --timeout. Against a loopback fake of the FixOps API, and the
live test server for a scan that stays queued."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from apps.findings.models import Scan
from tests.fakes.base import FakeServer, Response
from tests.findings.reports import many, sarif
from tools import fixops_gate

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "tools" / "fixops_gate.py"

DECISION = {
    "id": 9,
    "outcome": "ALLOW",
    "confidence": 1.0,
    "policy": {"name": "default", "version": 1},
    "reasons": [],
}


class FakeFixOps(FakeServer):
    """The three calls the client makes: upload (202, queued), status, decision."""

    name = "fixops"
    routes = (
        ("POST", r"/api/v1/scans/", "upload"),
        ("GET", r"/api/v1/scans/1/", "status"),
        ("POST", r"/api/v1/decisions/", "decide"),
    )

    def reset_state(self) -> None:
        self.state["scan"] = {"status": "done", "counts": {"results": 1}}

    def _scan(self, **fields) -> dict:
        return {"id": 1, "format": "sarif", "progress": 0, "counts": {},
                "status_url": "/api/v1/scans/1/", **fields}  # fmt: skip

    def upload(self, req) -> Response:
        return Response(202, self._scan(status="queued"))

    def status(self, req) -> Response:
        with self.lock:
            return Response(200, self._scan(**self.state["scan"]))

    def decide(self, req) -> Response:
        return Response(201, DECISION)

    def error_response(self, status, message, headers=None) -> Response:
        body = {"error": {"code": "throttled", "message": message, "details": None}}
        return Response(status, body, headers or {})


@pytest.fixture
def fake_fixops():
    with FakeFixOps() as fake:
        yield fake


def _run(url: str, *args: str, token: str = "t") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CLIENT), "--url", url, "--token", token, "--application", "shop",
         *args],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"}, check=False,
    )  # fmt: skip


@pytest.fixture
def report(tmp_path) -> Path:
    path = tmp_path / "r.sarif"
    path.write_bytes(sarif(many(2)))
    return path


def test_429_is_retried_after_retry_after_then_gates(fake_fixops, report):
    fake_fixops.fail_next(2, 429, retry_after=1)
    result = _run(fake_fixops.url, str(report))
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("HTTP 429") == 2 and "retrying in 1 s (2/5)" in result.stderr
    uploads = fake_fixops.requests_to("POST", r"/api/v1/scans/")
    assert [r.fault for r in uploads] == ["fail 429", "fail 429", ""]
    assert "FixOps decision 9: ALLOW" in result.stdout


def test_429_past_max_retries_exits_3(fake_fixops, report):
    fake_fixops.fail_next(10, 429, retry_after=0)
    result = _run(fake_fixops.url, "--max-retries", "2", str(report))
    assert result.returncode == 3
    assert "still refused after 2 retries" in result.stderr
    assert len(fake_fixops.requests) == 3


def test_a_retry_after_beyond_the_timeout_is_not_waited_for(fake_fixops, report):
    fake_fixops.fail_next(1, 429, retry_after=100)
    result = _run(fake_fixops.url, "--timeout", "30", str(report))
    assert result.returncode == 3 and "would pass --timeout" in result.stderr
    assert len(fake_fixops.requests) == 1


def test_a_503_without_retry_after_is_not_retried(fake_fixops, report):
    fake_fixops.fail_next(1, 503)
    result = _run(fake_fixops.url, str(report))
    assert result.returncode == 3 and "HTTP 503" in result.stderr
    assert len(fake_fixops.requests) == 1


def test_a_failed_queued_scan_exits_3_with_its_code_and_message(fake_fixops, report):
    fake_fixops.state["scan"] = {
        "status": "failed",
        "error": {"code": "import_failed", "message": "The import failed: OperationalError"},
    }
    result = _run(fake_fixops.url, str(report))
    assert result.returncode == 3
    assert "scan 1 failed (import_failed): The import failed: OperationalError" in result.stderr
    assert not fake_fixops.requests_to("POST", r"/api/v1/decisions/")


def test_a_failed_report_names_its_pointer(fake_fixops, report):
    fake_fixops.state["scan"] = {
        "status": "failed",
        "error": {"code": "invalid_report", "message": "The sarif report is not valid: eof",
                  "format": "sarif", "pointer": "/runs/0", "reason": "eof"},
    }  # fmt: skip
    result = _run(fake_fixops.url, str(report))
    assert result.returncode == 3 and "[format sarif, pointer /runs/0]" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_a_scan_stuck_in_the_queue_exits_3(
    live_server, acme, issue_token, report, settings, tmp_path
):
    """No worker consumes the queue here: the scan stays queued and the client says so."""
    settings.FIXOPS_INGEST_ASYNC_BYTES = 10
    settings.FIXOPS_UPLOAD_DIR = tmp_path / "uploads"
    token = issue_token(acme, role="analyst")
    result = _run(live_server.url, "--timeout", "3", str(report), token=token)
    assert result.returncode == 3, result.stderr
    scan = Scan.objects.get()
    assert scan.status == "queued"
    assert f"scan {scan.pk} is stuck: still queued" in result.stderr


@pytest.mark.parametrize(
    ("value", "attempt", "expected"),
    [(None, 1, 2.0), (None, 3, 8.0), (None, 9, 60.0), ("7", 1, 7.0), ("0", 2, 0.0),
     ("-3", 1, 0.0), ("soon", 2, 4.0)],
)  # fmt: skip
def test_retry_after_values(value, attempt, expected):
    assert fixops_gate.retry_after_seconds(value, attempt) == expected


def test_retry_after_as_an_http_date():
    now = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=42), usegmt=True)
    assert fixops_gate.retry_after_seconds(later, 1, now=now.timestamp()) == 42.0
    earlier = format_datetime(now - timedelta(seconds=42), usegmt=True)
    assert fixops_gate.retry_after_seconds(earlier, 1, now=now.timestamp()) == 0.0
