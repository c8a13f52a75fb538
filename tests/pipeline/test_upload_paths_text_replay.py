"""POST /api/v1/scans/: paths as tools write them, text hygiene, nothing half-made on a
refused upload, and the idempotent_replay answer (docs/ingestion.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client

from apps.findings.models import Application, Finding, Occurrence, Scan
from apps.pipeline.ingest import scan_process
from tests.findings.factories import ApplicationFactory
from tests.findings.reports import Result, many, sarif, upload

pytestmark = pytest.mark.django_db
URL = "/api/v1/scans/"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "scans"


def post(client, content: bytes, application: str = "web", **fields):
    return client.post(
        URL, {"file": upload(content), "application": application, **fields}, format="multipart"
    )


def checkov(*, repo_file_path: str, file_path: str, file_abs_path: str) -> bytes:
    check = {
        "check_id": "CKV_AWS_20",
        "check_name": "S3 Bucket has an ACL defined which allows public READ access.",
        "check_result": {"result": "FAILED"},
        "repo_file_path": repo_file_path,
        "file_path": file_path,
        "file_abs_path": file_abs_path,
        "file_line_range": [5, 8],
        "resource": "aws_s3_bucket.data",
        "severity": None,
    }
    return json.dumps(
        {
            "check_type": "terraform",
            "results": {"passed_checks": [], "failed_checks": [check], "skipped_checks": []},
            "summary": {"checkov_version": "3.2.100"},
        }
    ).encode()


def gitleaks(file: str) -> bytes:
    leak = {
        "RuleID": "aws-access-token",
        "Description": "AWS access token",
        "StartLine": 2,
        "EndLine": 2,
        "StartColumn": 28,
        "EndColumn": 47,
        "Match": 'key = "AKIAZ3MSJV4WWNKWW5FG"',
        "Secret": "AKIAZ3MSJV4WWNKWW5FG",
        "File": file,
        "Commit": "",
        "Entropy": 3.68,
        "Tags": [],
        "Fingerprint": f"{file}:aws-access-token:2",
    }
    return json.dumps([leak]).encode()


# -- paths ---------------------------------------------------------------------------------------


def test_checkov_in_a_container_and_on_the_host_is_one_finding(acme_analyst):
    container = checkov(
        repo_file_path="/src/app/main.tf",
        file_path="/app/main.tf",
        file_abs_path="/src/app/main.tf",
    )
    host = checkov(
        repo_file_path="/app/main.tf",
        file_path="/main.tf",
        file_abs_path="/home/dev/shop/app/main.tf",
    )
    first = post(acme_analyst, container, source_root="/src", branch="main")
    assert first.status_code == 201, first.content
    second = post(acme_analyst, host, branch="main")
    assert second.status_code == 201, second.content
    assert second.json()["counts"]["findings_new"] == 0
    finding = Finding.objects.get()
    assert finding.path == "app/main.tf"
    assert Occurrence.objects.get().original_path == "/app/main.tf"  # the host's, last seen


def test_checkov_leading_slash_under_source_root_is_relative_to_it(acme_analyst):
    """Only `repo_file_path` (no absolute path): the source_root still applies."""
    relative = checkov(repo_file_path="/src/app/main.tf", file_path="", file_abs_path="")
    post(acme_analyst, relative, source_root="/src/")
    assert Finding.objects.get().path == "app/main.tf"


def test_gitleaks_in_a_container_and_on_the_host_is_one_finding(acme_analyst):
    assert post(acme_analyst, gitleaks("/src/app/main.tf"), source_root="/src").status_code == 201
    again = post(acme_analyst, gitleaks("app/main.tf"))
    assert again.status_code == 201 and again.json()["counts"]["findings_new"] == 0
    assert Finding.objects.get().path == "app/main.tf"


def test_gitleaks_absolute_path_without_any_root_is_accepted(acme_analyst):
    response = post(acme_analyst, gitleaks("/conf/aws.tf"))
    assert response.status_code == 201, response.content
    occurrence = Occurrence.objects.get()
    assert (occurrence.path, occurrence.original_path) == ("conf/aws.tf", "/conf/aws.tf")


def test_the_applications_source_roots_apply(acme, acme_analyst):
    ApplicationFactory(tenant=acme, name="web", source_roots=["/opt/ci/checkout/shop"])
    report = sarif([Result(path="file:///opt/ci/checkout/shop/src/app.py")])
    assert post(acme_analyst, report).status_code == 201
    assert Finding.objects.get().path == "src/app.py"


def test_source_root_wins_over_the_applications_roots(acme, acme_analyst):
    ApplicationFactory(tenant=acme, name="web", source_roots=["/opt/ci"])
    report = sarif([Result(path="/opt/ci/shop/src/app.py")])
    post(acme_analyst, report, source_root="/opt/ci/shop")
    assert Finding.objects.get().path == "src/app.py"
    assert Scan.objects.get().source_root == "/opt/ci/shop"


@pytest.mark.parametrize("root", ["relative/dir", "/a/../b", "/tmp/\x01x"])
def test_a_bad_source_root_is_a_field_error(acme_analyst, root):
    response = post(acme_analyst, sarif(many(1)), source_root=root)
    assert response.status_code == 400
    assert "source_root" in response.json()["error"]["details"]
    assert not Application.objects.exists()


# -- text hygiene --------------------------------------------------------------------------------


def test_a_grype_report_with_nuls_imports(acme, acme_analyst):
    data = (FIXTURES / "grype" / "image-demo-shop.json").read_bytes()
    data = data.replace(b'"A buffer overflow', b'"A buffer\\u0000 overflow')
    data = data.replace(b'"name": "libc6"', b'"name": "libc6\\u0000\\u0000"', 1)
    response = post(acme_analyst, data)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["counts"]["warnings"] >= 1
    detail = acme_analyst.get(body["status_url"]).json()
    [warning] = [s for s in detail["skipped"] if "U+FFFD" in s["message"]]
    assert not warning["lost_finding"]
    findings = Finding.objects.filter(tenant=acme)
    assert findings.filter(component_name="libc6\ufffd\ufffd").exists()
    assert findings.filter(message__contains="buffer\ufffd overflow").exists()


def test_an_unpaired_surrogate_in_a_report_imports(acme_analyst):
    data = sarif([Result(message="bad \udc00 text", snippet="x\ud800y()")])
    assert b"\\udc00" in data and b"\\ud800" in data
    response = post(acme_analyst, data)
    assert response.status_code == 201, response.content
    finding = Finding.objects.get()
    assert finding.message == "bad \ufffd text"


# -- nothing half-made ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "fields", "status"),
    [
        (b'{"version": "2.1.0", "runs": [{"tool": ', {"format": "sarif"}, 400),
        (b"not a report at all", {}, 400),
        (b"", {}, 400),
        (sarif(many(1)), {"format": "no-such-format"}, 400),
    ],
)
def test_a_refused_upload_creates_no_application(acme, acme_analyst, content, fields, status):
    response = post(acme_analyst, content, application="brand-new", **fields)
    assert response.status_code == status, response.content
    assert not Application.objects.filter(tenant=acme).exists()
    assert not Scan.objects.exists()


def test_a_report_invalid_deep_inside_creates_no_application(acme, acme_analyst):
    good = sarif(many(3)).decode()
    broken = good.replace('"startLine": 11', '"startLine": 11, "x": [1,', 1)
    response = post(acme_analyst, broken.encode(), application="brand-new")
    assert response.status_code == 400
    assert not Application.objects.filter(tenant=acme).exists()


def test_a_numeric_ref_matches_a_name_first_then_an_id(acme, acme_analyst):
    named = ApplicationFactory(tenant=acme, name="2024")
    other = ApplicationFactory(tenant=acme, name="shop")
    assert post(acme_analyst, sarif(many(1)), application="2024").json()["application_id"] == (
        named.pk
    )
    by_id = post(acme_analyst, sarif(many(2)), application=str(other.pk))
    assert by_id.json()["application_id"] == other.pk


def test_an_upload_never_creates_an_application_from_a_number(acme, acme_analyst):
    response = post(acme_analyst, sarif(many(1)), application="987654")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "unknown_application"
    assert "does not create an application from a number" in error["message"]
    assert not Application.objects.filter(tenant=acme).exists()


@pytest.mark.parametrize("ref", ["²", "9" * 40])
def test_odd_numeric_refs_are_not_a_server_error(acme_analyst, ref):
    assert post(acme_analyst, sarif(many(1)), application=ref).status_code in (201, 404)


def test_another_tenants_id_is_unknown(acme_analyst, globex):
    theirs = ApplicationFactory(tenant=globex, name="theirs")
    response = post(acme_analyst, sarif(many(1)), application=str(theirs.pk))
    assert response.status_code == 404


# -- idempotent replay ---------------------------------------------------------------------------


def test_replay_is_marked_and_keeps_the_original_counts(acme_analyst):
    content = sarif(many(3))
    first = post(acme_analyst, content, branch="main")
    assert first.status_code == 201
    assert first.json()["idempotent_replay"] is False and first.json()["replay_of"] is None
    again = post(acme_analyst, content, branch="main")
    assert again.status_code == 200
    body = again.json()
    assert body["idempotent_replay"] is True
    assert body["replay_of"] == body["id"] == first.json()["id"]
    assert body["counts"] == first.json()["counts"]  # the original import's, unchanged
    assert body["counts"]["findings_new"] == 3


def test_the_same_content_in_other_bytes_is_a_repeat(acme_analyst):
    first = post(acme_analyst, sarif(many(3)), branch="main")
    assert first.json()["repeat_of"] is None
    reformatted = json.dumps(json.loads(sarif(many(3))), indent=2).encode()
    again = post(acme_analyst, reformatted, branch="main")
    assert again.status_code == 201
    body = again.json()
    assert body["idempotent_replay"] is False and body["replay_of"] is None
    assert body["repeat_of"] == first.json()["id"] != body["id"]
    assert body["counts"]["findings_existing"] == 3 and body["counts"]["findings_new"] == 0


def test_the_same_bytes_forced_to_another_format_are_not_a_replay(acme_analyst):
    """`{"results": {}}` reads as an empty checkov report and as an empty detect-secrets
    baseline: the second upload is another tool's stream, imported, not the first one's answer."""
    content = b'{"results": {}}'
    first = post(acme_analyst, content, branch="main", format="checkov")
    assert first.status_code == 201, first.content
    second = post(acme_analyst, content, branch="main", format="detect-secrets")
    assert second.status_code == 201, second.content
    assert second.json()["idempotent_replay"] is False and second.json()["id"] != first.json()["id"]
    again = post(acme_analyst, content, branch="main", format="detect-secrets")
    assert again.status_code == 200 and again.json()["replay_of"] == second.json()["id"]


def test_a_b_a_imports_a_again(acme_analyst):
    a, b = sarif(many(3)), sarif(many(2))
    post(acme_analyst, a, branch="main")
    post(acme_analyst, b, branch="main")
    third = post(acme_analyst, a, branch="main")
    assert third.status_code == 201
    assert third.json()["idempotent_replay"] is False
    assert third.json()["counts"]["findings_reopened"] == 1


def test_a_queued_upload_is_not_a_replay(acme_analyst, settings, tmp_path):
    settings.FIXOPS_INGEST_ASYNC_BYTES = 10
    settings.FIXOPS_UPLOAD_DIR = tmp_path
    response = post(acme_analyst, sarif(many(3)))
    assert response.status_code == 202
    assert response.json()["idempotent_replay"] is False


def test_the_schema_documents_the_replay_fields():
    schema = Client().get("/api/schema/", {"format": "json"}).json()
    upload_answer = schema["components"]["schemas"]["ScanUploadOutput"]["properties"]
    assert upload_answer["idempotent_replay"]["type"] == "boolean"
    assert upload_answer["replay_of"]["nullable"] is True
    form = schema["components"]["schemas"]["ScanCollectionInputRequest"]["properties"]
    assert "source_root" in form


def test_a_queued_import_resolves_paths_like_a_direct_one(
    acme, acme_analyst, settings, tmp_path, django_capture_on_commit_callbacks
):
    ApplicationFactory(tenant=acme, name="web", source_roots=["/opt/ci"])
    settings.FIXOPS_INGEST_ASYNC_BYTES = 10
    settings.FIXOPS_UPLOAD_DIR = tmp_path
    report = sarif([Result(path="/opt/ci/shop/src/a.py"), Result(path="/srv/x/b.py")])
    with django_capture_on_commit_callbacks():
        body = post(acme_analyst, report, source_root="/srv/x").json()
    assert body["source_root"] == "/srv/x"
    scan = scan_process(scan_id=body["id"])
    assert scan.status == "done", scan.error
    assert sorted(Finding.objects.values_list("path", flat=True)) == ["b.py", "shop/src/a.py"]


def test_the_finding_detail_shows_the_original_path(acme_analyst):
    post(acme_analyst, gitleaks("/conf/aws.tf"))
    finding = Finding.objects.get()
    detail = acme_analyst.get(f"/api/v1/findings/{finding.pk}/").json()
    [occurrence] = detail["occurrences"]
    assert (occurrence["path"], occurrence["original_path"]) == ("conf/aws.tf", "/conf/aws.tf")
