"""POST /api/v1/scans/: import, idempotency, re-import lifecycle, bad input, limits, async."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.findings.models import Application, Finding, Occurrence, Scan
from apps.pipeline.ingest import scan_process
from tests.findings.factories import ApplicationFactory
from tests.findings.reports import Result, many, sarif, upload

pytestmark = pytest.mark.django_db
URL = "/api/v1/scans/"


def post(client, content: bytes, application: str = "web", **fields):
    return client.post(
        URL, {"file": upload(content), "application": application, **fields}, format="multipart"
    )


def test_upload_imports_findings(acme, acme_analyst):
    response = post(acme_analyst, sarif(many(3)), branch="main", commit="abc123", pipeline_run="42")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["format"] == "sarif"
    assert body["tool"] == {"name": "semgrep", "version": "1.90.0"}
    assert body["counts"]["results"] == 3
    assert body["counts"]["findings_new"] == 3
    assert body["counts"]["duplicates_collapsed"] == 0
    assert body["status_url"] == f"/api/v1/scans/{body['id']}/"
    findings = Finding.objects.filter(tenant=acme).order_by("path")
    assert [f.path for f in findings] == ["src/module_0.py", "src/module_1.py", "src/module_2.py"]
    assert {f.status for f in findings} == {"open"}
    assert {f.cwe for f in findings} == {95}
    assert Application.objects.get(tenant=acme, name="web")  # created on first use
    scan = Scan.objects.get(pk=body["id"])
    assert (scan.branch, scan.commit, scan.pipeline_run) == ("main", "abc123", "42")


def test_same_bytes_again_is_idempotent(acme_analyst):
    content = sarif(many(3))
    first = post(acme_analyst, content).json()
    counts = (Scan.objects.count(), Finding.objects.count(), Occurrence.objects.count())
    again = post(acme_analyst, content)
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert (Scan.objects.count(), Finding.objects.count(), Occurrence.objects.count()) == counts


def test_duplicates_inside_one_report_collapse(acme_analyst):
    dup = Result()
    body = post(acme_analyst, sarif([dup, dup, Result(path="src/other.py")])).json()
    assert body["counts"]["results"] == 3
    assert body["counts"]["findings_new"] == 2
    assert body["counts"]["duplicates_collapsed"] == 1


def test_reimport_closes_missing_and_reopens_returning(acme_analyst):
    results = many(4)
    post(acme_analyst, sarif(results), branch="main")
    second = post(acme_analyst, sarif(results[:3]), branch="main").json()
    assert second["counts"]["findings_closed"] == 1
    assert second["counts"]["findings_existing"] == 3
    gone = Finding.objects.get(path="src/module_3.py")
    assert gone.status == "fixed" and gone.closed_by_scan_id == second["id"]
    assert gone.closed_at is not None

    third = post(acme_analyst, sarif(results, version="1.91.0"), branch="main").json()
    assert third["counts"]["findings_reopened"] == 1
    gone.refresh_from_db()
    assert gone.status == "reopened" and gone.reopen_count == 1 and gone.closed_at is None
    assert Finding.objects.filter(status="open").count() == 3


def test_line_shift_keeps_the_same_finding(acme_analyst):
    post(acme_analyst, sarif([Result(line=10)]), branch="main")
    body = post(acme_analyst, sarif([Result(line=14)]), branch="main").json()
    assert body["counts"]["findings_new"] == 0 and body["counts"]["findings_closed"] == 0
    assert Finding.objects.get().status == "open"


def test_other_branch_or_tool_closes_nothing(acme_analyst):
    post(acme_analyst, sarif(many(2)), branch="main")
    post(acme_analyst, sarif([]), branch="feature")
    post(acme_analyst, sarif([], tool="bandit"), branch="main")
    assert set(Finding.objects.values_list("status", flat=True)) == {"open"}
    closing = post(acme_analyst, sarif([]), branch="main").json()
    assert closing["counts"]["findings_closed"] == 2


def test_finding_stays_open_while_another_stream_reports_it(acme_analyst):
    shared = [Result(rule="eval", cwe=95)]
    post(acme_analyst, sarif(shared, tool="semgrep"), branch="main")
    post(acme_analyst, sarif(shared, tool="bandit"), branch="main")
    finding = Finding.objects.get()
    assert finding.occurrences.count() == 2
    post(acme_analyst, sarif([], tool="semgrep"), branch="main")
    finding.refresh_from_db()
    assert finding.status == "open"
    post(acme_analyst, sarif([], tool="bandit"), branch="main")
    finding.refresh_from_db()
    assert finding.status == "fixed"


@pytest.mark.parametrize(
    ("content", "pointer_hint"),
    [
        (b'{"version": "2.1.0", "runs": [{"tool": ', ""),
        (b'{"$schema": "sarif", "version": "2.1.0", "runs": []}', ""),
    ],
)
def test_bad_report_stores_nothing(acme, acme_analyst, content, pointer_hint):
    response = post(acme_analyst, content, format="sarif")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_report"
    assert error["details"]["format"] == "sarif"
    assert "reason" in error["details"] and "pointer" in error["details"]
    assert not Scan.objects.exists() and not Finding.objects.exists()


def test_traversal_path_stays_inside_the_repository(acme_analyst):
    """A ".." above the root is resolved against the root, not refused (docs: Paths)."""
    response = post(acme_analyst, sarif([Result(path="../../etc/passwd")]))
    assert response.status_code == 201, response.content
    occurrence = Occurrence.objects.get()
    assert (occurrence.path, occurrence.original_path) == ("etc/passwd", "../../etc/passwd")
    assert Finding.objects.get().path == "etc/passwd"


def test_undetectable_content_names_the_known_formats(acme_analyst):
    response = post(acme_analyst, b"hello, I am not a report")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unknown_format" and "sarif" in error["message"]


def test_empty_file_is_rejected(acme_analyst):
    response = post(acme_analyst, b"")
    assert response.status_code == 400


def test_too_large_is_413(acme_analyst, settings):
    settings.FIXOPS_UPLOAD_MAX_BYTES = 100
    response = post(acme_analyst, sarif(many(5)))
    assert response.status_code == 413
    assert response.json()["error"]["details"]["limit_bytes"] == 100
    assert not Scan.objects.exists()


def test_viewer_cannot_upload(acme_viewer):
    assert post(acme_viewer, sarif(many(1))).status_code == 403


def test_unknown_application_without_create_scope(acme, issue_token, api_client):
    client = api_client(issue_token(acme, role="analyst", scopes=["scans:write"]))
    response = post(client, sarif(many(1)), application="new-app")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_application"
    ApplicationFactory(tenant=acme, name="known")
    assert post(client, sarif(many(1)), application="known").status_code == 201


def test_large_upload_is_queued_and_processed(
    acme_analyst, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.FIXOPS_INGEST_ASYNC_BYTES = 10
    settings.FIXOPS_UPLOAD_DIR = tmp_path
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(acme_analyst, sarif(many(3)))
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and len(callbacks) == 1
    assert not Finding.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):  # the file goes once committed
        scan = scan_process(scan_id=body["id"])
    assert scan.status == "done" and scan.counts["findings_new"] == 3
    status = acme_analyst.get(body["status_url"]).json()
    assert status["status"] == "done" and status["progress"] == 100
    assert not list(tmp_path.rglob("*.report"))  # the stored upload is removed
    assert scan_process(scan_id=body["id"]).counts == scan.counts  # running twice is harmless


def test_queued_bad_report_fails_with_the_error(
    acme_analyst, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.FIXOPS_INGEST_ASYNC_BYTES = 10
    settings.FIXOPS_UPLOAD_DIR = tmp_path
    with django_capture_on_commit_callbacks():
        body = post(acme_analyst, b'{"version": "2.1.0", "runs": [{"x"', format="sarif").json()
    scan = scan_process(scan_id=body["id"])
    assert scan.status == "failed" and scan.error["format"] == "sarif"
    assert not Finding.objects.exists()


def test_query_count_does_not_grow_with_results(acme_analyst):
    acme_analyst.get("/api/v1/me/")  # the token's last-use write happens once, here

    def queries_for(n: int, app: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert post(acme_analyst, sarif(many(n)), application=app).status_code == 201
        return len(ctx.captured_queries)

    assert queries_for(20, "small") == queries_for(400, "large")


def test_findings_list_filters_and_detail(acme, acme_analyst, acme_viewer):
    post(acme_analyst, sarif([Result(), Result(path="b.py", cwe=79, rule="xss")]))
    listed = acme_viewer.get("/api/v1/findings/", {"cwe": 79}).json()["results"]
    assert [f["path"] for f in listed] == ["b.py"]
    detail = acme_viewer.get(f"/api/v1/findings/{listed[0]['id']}/").json()
    assert detail["occurrences"][0]["tool"] == "semgrep"
    assert acme_viewer.get("/api/v1/findings/", {"severity": "nope"}).status_code == 400
    assert len(acme_viewer.get("/api/v1/findings/", {"tool": "semgrep"}).json()["results"]) == 2
    scans = acme_viewer.get("/api/v1/scans/").json()["results"]
    assert len(scans) == 1 and scans[0]["counts"]["findings_new"] == 2


def test_outsider_cannot_see_scans_or_findings(acme_analyst, globex_admin):
    body = post(acme_analyst, sarif(many(1))).json()
    finding = Finding.objects.get()
    assert globex_admin.get(f"/api/v1/scans/{body['id']}/").status_code == 404
    assert globex_admin.get(f"/api/v1/findings/{finding.pk}/").status_code == 404
    assert globex_admin.get("/api/v1/findings/").json()["results"] == []
