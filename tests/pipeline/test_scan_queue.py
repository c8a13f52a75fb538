"""Queued scans: a file per scan, any worker failure recorded on the scan, the lease that fences
an import, and the sweeper that re-queues what a lost message or a dead worker left behind."""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from apps.findings.models import Component, Finding, Occurrence, Scan, ScanStatus
from apps.findings.scan_queue import (
    MAX_REQUEUES,
    LeaseLost,
    scan_claim,
    scan_fail,
    scan_lease_renew,
    scan_settle,
)
from apps.pipeline.ingest import scan_process, scans_sweep
from fixops.platform.lease import LeaseHeartbeat
from fixops.platform.models import AuditEvent
from tests.findings.reports import many, sarif, upload

pytestmark = pytest.mark.django_db
URL = "/api/v1/scans/"


@pytest.fixture
def queued(settings, tmp_path):
    settings.FIXOPS_INGEST_ASYNC_BYTES = 10
    settings.FIXOPS_UPLOAD_DIR = tmp_path
    return tmp_path


def _queue(client, content: bytes, capture, application="web", **fields) -> dict:
    with capture():
        response = client.post(
            URL, {"file": upload(content), "application": application, **fields}, format="multipart"
        )
    assert response.status_code == 202, response.content
    return response.json()


def _actions(scan_id: int) -> list[str]:
    return list(
        AuditEvent.objects.filter(target_type="findings.scan", target_id=str(scan_id))
        .order_by("seq")
        .values_list("action", flat=True)
    )


# --- A file per scan ---------------------------------------------------------------------------


def test_same_bytes_on_two_branches_get_two_files_and_both_import(
    acme_analyst, queued, django_capture_on_commit_callbacks
):
    """The reported bug: the second upload rewrote, then the first import deleted, the one
    shared file, so the second scan found it gone."""
    content = sarif(many(4))
    first = _queue(acme_analyst, content, django_capture_on_commit_callbacks, branch="main")
    second = _queue(acme_analyst, content, django_capture_on_commit_callbacks, branch="dev")
    paths = {Scan.objects.get(pk=b["id"]).upload for b in (first, second)}
    assert len(paths) == 2
    for body in (first, second):
        path = Path(Scan.objects.get(pk=body["id"]).upload)
        assert path.name == f"scan-{body['id']}.report" and path.read_bytes() == content
    assert not [p for p in queued.rglob("*") if p.name.startswith(".")]  # no temporary left
    with django_capture_on_commit_callbacks(execute=True):
        assert scan_process(scan_id=first["id"]).status == "done"
    assert not Path(Scan.objects.get(pk=first["id"]).upload or "/nonexistent").exists()
    assert Path(Scan.objects.get(pk=second["id"]).upload).read_bytes() == content
    with django_capture_on_commit_callbacks(execute=True):
        scan = scan_process(scan_id=second["id"])
    assert scan.status == "done" and scan.counts["results"] == 4
    assert not list(queued.rglob("*.report"))
    assert _actions(first["id"])[:2] == ["scan.queue", "scan.claim"]


# --- Failures ----------------------------------------------------------------------------------


def test_missing_report_fails_the_scan_with_a_code(
    acme_analyst, queued, django_capture_on_commit_callbacks
):
    body = _queue(acme_analyst, sarif(many(2)), django_capture_on_commit_callbacks)
    Path(Scan.objects.get(pk=body["id"]).upload).unlink()
    scan = scan_process(scan_id=body["id"])
    assert scan.status == "failed" and scan.error["code"] == "upload_missing"
    shown = acme_analyst.get(body["status_url"]).json()
    assert shown["status"] == "failed"
    assert (
        shown["error"]["code"] == "upload_missing"
        and "upload it again" in shown["error"]["message"]
    )
    assert _actions(body["id"])[-1] == "scan.fail"
    assert scan_process(scan_id=body["id"]).status == "failed"  # a second delivery: no change


def test_a_queued_scan_without_a_stored_report_fails_at_its_first_delivery(
    acme_analyst, queued, django_capture_on_commit_callbacks
):
    body = _queue(acme_analyst, sarif(many(2)), django_capture_on_commit_callbacks)
    Scan.objects.filter(pk=body["id"]).update(upload="")
    scan = scan_process(scan_id=body["id"])
    assert scan.status == "failed" and scan.error["code"] == "upload_missing"


def test_queued_parse_error_keeps_the_pointer_and_adds_code_and_message(
    acme_analyst, queued, django_capture_on_commit_callbacks
):
    content = sarif(many(30))[:-40]  # results stream in before the truncation shows
    body = _queue(acme_analyst, content, django_capture_on_commit_callbacks, format="sarif")
    with django_capture_on_commit_callbacks(execute=True):
        scan = scan_process(scan_id=body["id"])
    assert scan.status == "failed"
    assert scan.error["code"] == "invalid_report" and scan.error["format"] == "sarif"
    assert scan.error["message"].startswith("The sarif report is not valid")
    assert not Finding.objects.exists() and not Occurrence.objects.exists()
    assert not list(queued.rglob("*.report"))  # a failed scan's report is deleted too


def test_any_worker_error_rolls_the_import_back_then_fails_the_scan(
    acme_analyst, queued, django_capture_on_commit_callbacks
):
    """A database error in the middle of the import (a trigger refusing finding rows, after
    the report was parsed and the stream recorded): nothing of the import stays, and the
    scan is failed with the error in a transaction of its own."""
    body = _queue(acme_analyst, sarif(many(5)), django_capture_on_commit_callbacks)
    table = Finding._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'disk full (test)'; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER test_refuse BEFORE INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION test_refuse()"
        )
    scan = scan_process(scan_id=body["id"])
    assert scan.status == "failed" and scan.error["code"] == "import_failed"
    assert "disk full (test)" in scan.error["message"]
    assert not Finding.objects.exists() and not Occurrence.objects.exists()
    assert not Component.objects.exists() and scan.counts == {}
    assert scan.lease_owner == "" and scan.finished_at is not None


# --- Lease and fence ---------------------------------------------------------------------------


def test_a_second_delivery_while_the_lease_is_live_does_nothing(
    acme_analyst, queued, django_capture_on_commit_callbacks
):
    body = _queue(acme_analyst, sarif(many(3)), django_capture_on_commit_callbacks)
    held = scan_claim(scan_id=body["id"], owner="worker-a")
    assert held.status == "processing" and held.lease_owner == "worker-a"
    assert scan_claim(scan_id=body["id"], owner="worker-b") is None
    again = scan_process(scan_id=body["id"])  # the duplicate task
    assert again.status == "processing" and again.lease_owner == "worker-a"
    assert not Finding.objects.exists() and Path(again.upload).exists()
    assert scan_lease_renew(scan_id=body["id"], owner="worker-b") == 0
    assert scan_lease_renew(scan_id=body["id"], owner="worker-a") == 1


def test_an_expired_lease_is_taken_over_and_fences_out_the_old_worker(
    acme_analyst, queued, django_capture_on_commit_callbacks
):
    body = _queue(acme_analyst, sarif(many(3)), django_capture_on_commit_callbacks)
    scan_claim(scan_id=body["id"], owner="stalled")
    Scan.objects.filter(pk=body["id"]).update(lease_expires_at=timezone.now() - timedelta(1))
    assert scan_claim(scan_id=body["id"], owner="fresh").lease_owner == "fresh"
    # The stalled worker wakes up: it may neither commit its import nor fail the scan.
    with pytest.raises(LeaseLost):
        scan_settle(scan_id=body["id"], owner="stalled")
    assert not scan_fail(scan_id=body["id"], error={"code": "x"}, owner="stalled")
    assert Scan.objects.get(pk=body["id"]).status == "processing"


def test_a_dead_workers_scan_is_imported_by_the_next_delivery(
    acme_analyst, queued, django_capture_on_commit_callbacks
):
    body = _queue(acme_analyst, sarif(many(3)), django_capture_on_commit_callbacks)
    scan_claim(scan_id=body["id"], owner="killed")
    Scan.objects.filter(pk=body["id"]).update(lease_expires_at=timezone.now() - timedelta(1))
    with django_capture_on_commit_callbacks(execute=True):
        scan = scan_process(scan_id=body["id"])
    assert scan.status == "done" and scan.counts["findings_new"] == 3
    assert scan.lease_owner == "" and scan.upload == ""


def test_heartbeat_renews_until_the_claim_is_gone():
    calls = []
    stop = threading.Event()

    def renew() -> int:
        calls.append(1)
        if len(calls) == 3:
            stop.set()
            return 0
        return 1

    with LeaseHeartbeat(renew, interval=0.05) as heartbeat:
        assert stop.wait(10)
    assert heartbeat.renewals == 3 and len(calls) == 3  # stopped at the first 0


@pytest.mark.django_db(transaction=True)
def test_heartbeat_pushes_the_lease_forward_from_its_own_connection(
    acme_analyst, queued, settings, django_capture_on_commit_callbacks
):
    body = _queue(acme_analyst, sarif(many(1)), django_capture_on_commit_callbacks)
    scan_claim(scan_id=body["id"], owner="live")
    Scan.objects.filter(pk=body["id"]).update(lease_expires_at=timezone.now())
    first = Scan.objects.get(pk=body["id"]).lease_expires_at
    renewed = threading.Event()

    def renew() -> int:
        count = scan_lease_renew(scan_id=body["id"], owner="live")
        renewed.set()
        return count

    with LeaseHeartbeat(renew, interval=0.05):
        assert renewed.wait(10)
    assert Scan.objects.get(pk=body["id"]).lease_expires_at > first


def test_a_broker_down_at_upload_still_answers_202_and_leaves_the_scan_to_the_sweeper(
    acme_analyst, queued, broker_down, django_capture_on_commit_callbacks
):
    """The report is stored and the scan committed before the message is sent: a broker that
    refuses it must not turn the upload into a 500 (the client would upload again)."""
    with django_capture_on_commit_callbacks(execute=True):
        response = acme_analyst.post(
            URL, {"file": upload(sarif(many(2))), "application": "web"}, format="multipart"
        )
    assert response.status_code == 202, response.content
    scan = Scan.objects.get(pk=response.json()["id"])
    assert scan.status == ScanStatus.QUEUED and Path(scan.upload).exists()


def test_a_queued_report_denser_than_the_memory_budget_fails_with_its_code(
    acme_analyst, queued, settings, django_capture_on_commit_callbacks
):
    settings.FIXOPS_UPLOAD_MEMORY_MB = 1  # 256 results
    body = _queue(acme_analyst, sarif(many(300)), django_capture_on_commit_callbacks)
    scan = scan_process(scan_id=body["id"])
    assert scan.status == ScanStatus.FAILED
    assert scan.error["code"] == "too_many_results" and scan.error["limit"] == 256
    assert not Finding.objects.exists()


# --- Sweeper -----------------------------------------------------------------------------------


def _age(scan_id: int, seconds: int) -> None:
    then = timezone.now() - timedelta(seconds=seconds)
    Scan.objects.filter(pk=scan_id).update(queued_at=then, created_at=then)


def test_sweeper_requeues_a_scan_stuck_queued_three_times_then_fails_it(
    acme_analyst, queued, settings, django_capture_on_commit_callbacks
):
    settings.FIXOPS_SCAN_STUCK_SECONDS = 600
    body = _queue(acme_analyst, sarif(many(2)), django_capture_on_commit_callbacks)
    fresh = _queue(acme_analyst, sarif(many(3)), django_capture_on_commit_callbacks)
    for attempt in range(1, MAX_REQUEUES + 1):
        _age(body["id"], 601)
        with django_capture_on_commit_callbacks() as enqueued:
            assert scans_sweep() == {"requeued": 1, "failed": 0, "orphans": 0}
        assert len(enqueued) == 1  # the task is sent again, after the re-queue commits
        scan = Scan.objects.get(pk=body["id"])
        assert scan.status == "queued" and scan.requeues == attempt
        assert scans_sweep() == {"requeued": 0, "failed": 0, "orphans": 0}  # not stuck again yet
    _age(body["id"], 601)
    with django_capture_on_commit_callbacks(execute=True):
        assert scans_sweep() == {"requeued": 0, "failed": 1, "orphans": 0}
    scan = Scan.objects.get(pk=body["id"])
    assert scan.status == "failed" and scan.error["code"] == "scan_stuck"
    assert scan.upload == "" and Scan.objects.get(pk=fresh["id"]).status == "queued"
    assert _actions(body["id"]) == [
        "scan.queue",
        *["scan.requeue"] * MAX_REQUEUES,
        "scan.fail",
    ]
    assert len(list(queued.rglob("*.report"))) == 1  # only the fresh scan's


def test_sweeper_fails_a_stuck_scan_whose_report_is_gone_at_once(
    acme_analyst, queued, django_capture_on_commit_callbacks
):
    body = _queue(acme_analyst, sarif(many(2)), django_capture_on_commit_callbacks)
    Path(Scan.objects.get(pk=body["id"]).upload).unlink()
    _age(body["id"], 10**6)
    assert scans_sweep() == {"requeued": 0, "failed": 1, "orphans": 0}
    scan = Scan.objects.get(pk=body["id"])
    assert scan.status == "failed" and scan.error["code"] == "upload_missing"
    assert scan.requeues == 0


def test_sweeper_requeues_a_claim_whose_lease_expired(
    acme_analyst, queued, django_capture_on_commit_callbacks
):
    body = _queue(acme_analyst, sarif(many(2)), django_capture_on_commit_callbacks)
    scan_claim(scan_id=body["id"], owner="alive")
    assert scans_sweep() == {"requeued": 0, "failed": 0, "orphans": 0}  # a live lease is left alone
    Scan.objects.filter(pk=body["id"]).update(lease_expires_at=timezone.now() - timedelta(1))
    with django_capture_on_commit_callbacks():
        assert scans_sweep() == {"requeued": 1, "failed": 0, "orphans": 0}
    scan = Scan.objects.get(pk=body["id"])
    assert (scan.status, scan.lease_owner, scan.requeues) == (ScanStatus.QUEUED, "", 1)
    with pytest.raises(LeaseLost):  # the old worker, if it was only slow, cannot commit
        scan_settle(scan_id=body["id"], owner="alive")
    with django_capture_on_commit_callbacks(execute=True):
        assert scan_process(scan_id=body["id"]).status == "done"


def test_outsider_cannot_see_a_failed_scan(
    acme_analyst, globex_admin, queued, django_capture_on_commit_callbacks
):
    body = _queue(acme_analyst, sarif(many(1)), django_capture_on_commit_callbacks)
    Path(Scan.objects.get(pk=body["id"]).upload).unlink()
    scan_process(scan_id=body["id"])
    assert globex_admin.get(body["status_url"]).status_code == 404


def test_sweeper_deletes_old_reports_no_unfinished_scan_refers_to(
    acme_analyst, queued, settings, django_capture_on_commit_callbacks
):
    """A file left by an upload rolled back after writing it, and a crashed write's temporary
    file, go once old; a waiting scan's report and a fresh file stay."""
    settings.FIXOPS_SCAN_STUCK_SECONDS = 600
    body = _queue(acme_analyst, sarif(many(2)), django_capture_on_commit_callbacks)
    waiting = Path(Scan.objects.get(pk=body["id"]).upload)
    folder = waiting.parent
    orphan, temporary, fresh = (
        folder / "scan-999999.report",
        folder / ".scan-999998.report.x1y2",
        folder / "scan-999997.report",
    )
    for path in (orphan, temporary, fresh):
        path.write_bytes(b"{}")
    hour_ago = timezone.now().timestamp() - 3600
    for path in (orphan, temporary, waiting):
        os.utime(path, (hour_ago, hour_ago))
    Scan.objects.filter(pk=body["id"]).update(queued_at=timezone.now())  # not stuck itself
    assert scans_sweep() == {"requeued": 0, "failed": 0, "orphans": 2}
    assert waiting.exists() and fresh.exists()
    assert not orphan.exists() and not temporary.exists()
