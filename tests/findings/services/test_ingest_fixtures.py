"""Real scanner outputs (tests/fixtures/scans) through the whole ingestion service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.findings.models import Component, Finding, Occurrence
from apps.pipeline.ingest import scan_submit
from tests.findings.factories import ApplicationFactory
from tests.findings.reports import many, sarif

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scans"
REPORTS = sorted(
    p
    for p in FIXTURES.rglob("*")
    if p.is_file() and "hostile" not in p.parts and p.suffix in {".json", ".sarif", ".xml"}
)


# Content that no detector may claim on its own: a bare `[]` could be any JSON list.
NEEDS_FORMAT = {"gitleaks/empty.json": "gitleaks"}


def _submit(app, path: Path, **kwargs):
    upload = SimpleUploadedFile(path.name, path.read_bytes())
    return scan_submit(tenant=app.tenant, application=app, upload=upload, **kwargs)


@pytest.mark.parametrize("path", REPORTS, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_fixture_imports_and_reimports_idempotently(acme, path):
    app = ApplicationFactory(tenant=acme)
    fmt = NEEDS_FORMAT.get(str(path.relative_to(FIXTURES)), "")
    scan, created = _submit(app, path, branch="main", format=fmt)
    assert created and scan.status == "done"
    # Every result is imported, lost, or a suppressed result that makes no finding.
    not_imported = scan.counts["lost"] + sum(1 for s in scan.skipped if s["suppressed"])
    assert (
        scan.counts["results"] - not_imported
        == Finding.objects.filter(application=app).count() + scan.counts["duplicates_collapsed"]
    )
    assert scan.counts["skipped"] == scan.counts["lost"]
    rows = (Finding.objects.count(), Occurrence.objects.count(), Component.objects.count())
    again, created_again = _submit(app, path, branch="main", format=fmt)
    assert (again.pk, created_again) == (scan.pk, False)
    assert (Finding.objects.count(), Occurrence.objects.count(), Component.objects.count()) == rows


def test_trivy_and_grype_collapse_on_the_same_vulnerabilities(acme):
    app = ApplicationFactory(tenant=acme)
    trivy, _ = _submit(app, FIXTURES / "trivy" / "fs-demo-shop.json", branch="main")
    grype, _ = _submit(app, FIXTURES / "grype" / "dir-demo-shop.json", branch="main")
    shared = Finding.objects.filter(application=app, occurrences__tool="trivy").filter(
        occurrences__tool="grype"
    )
    assert grype.counts["findings_existing"] > 0
    assert shared.count() == grype.counts["findings_existing"]
    for finding in shared:
        assert finding.dedup_strategy == "sca" and finding.vuln_id


def test_sbom_fills_the_component_inventory(acme):
    app = ApplicationFactory(tenant=acme)
    scan, _ = _submit(app, FIXTURES / "spdx" / "sbom4python-requests.spdx.json")
    assert scan.counts["components"] > 0
    assert Component.objects.filter(application=app).count() == scan.counts["components"]
    assert Component.objects.filter(application=app).exclude(purl="").exists()
    assert not Finding.objects.filter(application=app).exists()


def test_vex_not_affected_marks_false_positive(acme):
    app = ApplicationFactory(tenant=acme)
    _submit(app, FIXTURES / "cyclonedx" / "vex-osv-1.5.cdx.json")
    dismissed = Finding.objects.filter(
        application=app, vex_state__in=["not_affected", "false_positive"]
    )
    assert dismissed.exists()
    assert set(dismissed.values_list("status", flat=True)) == {"false_positive"}


def test_gitleaks_secret_never_reaches_the_database(acme):
    app = ApplicationFactory(tenant=acme)
    path = FIXTURES / "gitleaks" / "report.json"
    _submit(app, path)
    secrets = [leak["Secret"] for leak in json.loads(path.read_text()) if leak.get("Secret")]
    stored = " ".join(
        str(row) for row in Finding.objects.filter(application=app).values()
    ) + " ".join(str(row) for row in Occurrence.objects.filter(application=app).values())
    assert secrets and not any(secret in stored for secret in secrets)


def test_warnings_do_not_stop_closure_but_lost_results_do(acme):
    """trivy licence results are warnings (kept data); a skipped result blocks closure."""
    app = ApplicationFactory(tenant=acme)
    scan, _ = _submit(app, FIXTURES / "trivy" / "fs-demo-shop.json", branch="main")
    assert scan.counts["warnings"] >= 1 and scan.counts["skipped"] == 0
    empty = (
        b'{"SchemaVersion": 2, "ArtifactName": ".", "ArtifactType": "filesystem", "Results": []}'
    )
    upload = SimpleUploadedFile("t.json", empty)
    closing, _ = scan_submit(tenant=acme, application=app, upload=upload, branch="main")
    assert closing.counts["findings_closed"] > 0

    # A report that no longer lists one finding but also has an unreadable result: nothing
    # may close, since the unreadable result could be that finding.
    _submit_bytes(app, sarif(many(2)), branch="dev")
    partial = json.loads(sarif(many(1)))
    partial["runs"][0]["results"].append({"level": "error"})  # no rule, no message: skipped
    second, _ = _submit_bytes(app, json.dumps(partial).encode(), branch="dev")
    assert second.counts["skipped"] == 1 and second.counts["findings_closed"] == 0
    assert not Finding.objects.filter(application=app, status="fixed", path__startswith="src/mod")


def _submit_bytes(app, content: bytes, **kwargs):
    upload = SimpleUploadedFile("report", content)
    return scan_submit(tenant=app.tenant, application=app, upload=upload, **kwargs)
