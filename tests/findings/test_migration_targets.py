"""The scan-targets migration (findings 0008) on a database migrated to the schema before it:
old rows get target "", every old stream gets its Stream row, and the first named import
adopts the old stream, closing and duplicating nothing."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from apps.findings.dedup import assign_keys
from apps.findings.models import Application, Finding, Occurrence, Scan, Stream
from apps.findings.parsers import get_parser
from apps.pipeline.ingest import scan_submit

BEFORE = [("findings", "0007_finding_sla_started_at")]


def latest_findings() -> list[tuple[str, str]]:
    """Forward to the latest findings migration, whatever its name: the import below runs
    the current code."""
    return MigrationExecutor(connection).loader.graph.leaf_nodes("findings")


def trivy(image: str, *vulns: str) -> bytes:
    return json.dumps(
        {
            "SchemaVersion": 2,
            "ArtifactName": image,
            "ArtifactType": "container_image",
            "Results": [
                {
                    "Target": "app.jar",
                    "Class": "lang-pkgs",
                    "Vulnerabilities": [
                        {
                            "VulnerabilityID": vuln,
                            "PkgName": "log4j-core",
                            "InstalledVersion": "2.14.1",
                            "PkgIdentifier": {
                                "PURL": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
                            },
                            "Severity": "CRITICAL",
                        }
                        for vuln in vulns
                    ],
                }
            ],
        }
    ).encode()


def keys_of(report: bytes) -> list[tuple[str, str, str]]:
    result = get_parser("trivy").parse(io.BytesIO(report))
    return [
        (k.dedup_key, k.strategy, k.finding.rule_id) for k in assign_keys(list(result.findings))
    ]


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.fixture
def old_schema(transactional_db):
    """The database at findings 0007; migrated forward again whatever the test does."""
    migrate(BEFORE)
    try:
        yield MigrationExecutor(connection).loader.project_state(BEFORE).apps
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def _old_rows(apps, report: bytes) -> int:
    """An application whose trivy stream (main) and "osv" stream hold one finding each."""
    tenant = apps.get_model("tenants", "Tenant").objects.create(slug="old", name="Old")
    app = apps.get_model("findings", "Application").objects.create(tenant=tenant, name="shop")
    scan = apps.get_model("findings", "Scan").objects.create(
        tenant=tenant,
        application=app,
        sha256="0" * 64,
        size_bytes=1,
        format="trivy",
        tool_name="trivy",
        branch="main",
        status="done",
    )
    Finding = apps.get_model("findings", "Finding")
    Occurrence = apps.get_model("findings", "Occurrence")
    now = timezone.now()
    for key, strategy, rule in [*keys_of(report), ("f" * 64, "sca", "GHSA-osv")]:
        finding = Finding.objects.create(
            tenant=tenant,
            application=app,
            dedup_key=key,
            dedup_strategy=strategy,
            kind="sca",
            severity="critical",
            tool="trivy",
            rule_id=rule,
            title=rule,
        )
        tool, branch = ("osv", "") if rule == "GHSA-osv" else ("trivy", "main")
        Occurrence.objects.create(
            tenant=tenant,
            application=app,
            finding=finding,
            tool=tool,
            branch=branch,
            rule_id=rule,
            first_scan_id=scan.pk,
            last_scan_id=scan.pk,
            last_seen=now,
        )
    return app.pk


def test_old_streams_get_an_empty_target_and_are_adopted(old_schema):
    report = trivy("registry:5000/shop/api:1.4", "CVE-2021-44228", "CVE-2021-45046")
    app_id = _old_rows(old_schema, report)
    migrate(latest_findings())

    assert set(Scan.objects.values_list("target", flat=True)) == {""}
    assert set(Occurrence.objects.values_list("target", flat=True)) == {""}
    # One stream row for the scanned stream; advisory matching's "osv" stream never goes stale.
    assert list(Stream.objects.values_list("tool", "branch", "target")) == [("trivy", "main", "")]

    app = Application.objects.get(pk=app_id)
    upload = SimpleUploadedFile("trivy.json", report)
    scan, created = scan_submit(tenant=app.tenant, application=app, upload=upload, branch="main")
    assert created and scan.target == "registry:5000/shop/api"
    assert scan.counts["findings_new"] == 0 and scan.counts["findings_closed"] == 0
    assert Occurrence.objects.count() == 3  # adopted, not duplicated
    assert sorted(Occurrence.objects.values_list("tool", "target")) == [
        ("osv", ""),
        ("trivy", "registry:5000/shop/api"),
        ("trivy", "registry:5000/shop/api"),
    ]
    assert list(Stream.objects.values_list("target", flat=True)) == ["registry:5000/shop/api"]
    assert set(Finding.objects.values_list("status", flat=True)) == {"open"}
    assert set(Scan.objects.values_list("target", flat=True)) == {"registry:5000/shop/api"}
