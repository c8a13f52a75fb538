"""Scan targets as docs/ingestion.md ("Targets") documents them: two images in one pipeline, a
second release of the same image, an SBOM and an image of one application, the adoption of
streams older than targets, stale and retired streams, replay per stream."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from apps.findings.models import Finding, Occurrence, Scan, Stream
from apps.findings.streams import stream_retire, streams_retire_stale
from apps.pipeline.ingest import scan_process, scan_submit
from fixops.platform.models import AuditEvent
from tests.findings.factories import ApplicationFactory

pytestmark = pytest.mark.django_db
LOG4SHELL = "CVE-2021-44228"
LOG4J = ("log4j-core", "2.14.1", "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1")
OPENSSL = ("openssl", "3.0.1", "pkg:deb/debian/openssl@3.0.1")
ZLIB = ("zlib", "1.2.11", "pkg:deb/debian/zlib@1.2.11")


def trivy(image: str, *vulns: tuple[str, tuple[str, str, str]]) -> bytes:
    """A trivy image report of `image` with (vulnerability id, package) results."""
    return json.dumps(
        {
            "SchemaVersion": 2,
            "ArtifactName": image,
            "ArtifactType": "container_image",
            "Results": [
                {
                    "Target": "app.jar",
                    "Class": "lang-pkgs",
                    "Type": "jar",
                    "Vulnerabilities": [
                        {
                            "VulnerabilityID": vuln_id,
                            "PkgName": name,
                            "InstalledVersion": version,
                            "PkgIdentifier": {"PURL": purl},
                            "Severity": "CRITICAL",
                        }
                        for vuln_id, (name, version, purl) in vulns
                    ],
                }
            ],
        }
    ).encode()


def submit(app, content: bytes, **fields):
    upload = SimpleUploadedFile("report.json", content)
    return scan_submit(tenant=app.tenant, application=app, upload=upload, branch="main", **fields)


def status(app, vuln_id: str) -> str:
    return Finding.objects.get(application=app, vuln_id=vuln_id).status


@pytest.fixture
def app(acme):
    return ApplicationFactory(tenant=acme, name="shop")


def test_log4shell_stays_open_when_another_image_is_scanned(app):
    """Image A reports Log4Shell, image B does not: A's finding stays open; the next release
    of A without it closes it."""
    first, _ = submit(app, trivy("shop/api:1.0", (LOG4SHELL, LOG4J)))
    assert first.target == "shop/api"
    other, _ = submit(app, trivy("shop/worker:1.0", ("CVE-2022-0778", OPENSSL)))
    assert other.target == "shop/worker"
    assert other.counts["findings_closed"] == 0
    assert status(app, LOG4SHELL) == "open"

    release, _ = submit(app, trivy("shop/api:1.1@sha256:" + "b" * 64, ("CVE-2022-0778", OPENSSL)))
    assert release.target == "shop/api"  # same stream as 1.0: tag and digest are not the target
    assert release.counts["findings_closed"] == 1
    log4shell = Finding.objects.get(application=app, vuln_id=LOG4SHELL)
    assert (log4shell.status, log4shell.closed_by_scan_id) == ("fixed", release.pk)
    assert status(app, "CVE-2022-0778") == "open"


def test_a_finding_of_several_targets_closes_when_the_last_stops(app):
    submit(app, trivy("shop/api:1.0", ("CVE-2022-0778", OPENSSL)))
    submit(app, trivy("shop/worker:1.0", ("CVE-2022-0778", OPENSSL)))
    finding = Finding.objects.get(application=app, vuln_id="CVE-2022-0778")
    assert sorted(finding.occurrences.values_list("target", flat=True)) == [
        "shop/api",
        "shop/worker",
    ]
    api, _ = submit(app, trivy("shop/api:1.1", ("CVE-2018-25032", ZLIB)))
    assert api.counts["findings_closed"] == 0  # the worker image still reports it
    assert status(app, "CVE-2022-0778") == "open"
    worker, _ = submit(app, trivy("shop/worker:1.1", ("CVE-2018-25032", ZLIB)))
    assert worker.counts["findings_closed"] == 1
    assert status(app, "CVE-2022-0778") == "fixed"


def test_an_sbom_and_an_image_of_one_application_are_two_streams(app):
    """grype on the image, then grype on an SBOM file: the SBOM scan closes nothing of the
    image's (source.target names another thing)."""

    def grype(source: dict, *vulns) -> bytes:
        matches = [
            {
                "vulnerability": {"id": vuln_id, "severity": "Critical"},
                "artifact": {"name": name, "version": version, "purl": purl, "type": "java"},
            }
            for vuln_id, (name, version, purl) in vulns
        ]
        return json.dumps(
            {"matches": matches, "source": source, "descriptor": {"name": "grype"}}
        ).encode()

    image = {"type": "image", "target": {"userInput": "shop/api:1.0"}}
    sbom = {"type": "sbom-file", "target": "sbom/shop.cdx.json"}
    on_image, _ = submit(app, grype(image, (LOG4SHELL, LOG4J)))
    on_sbom, _ = submit(app, grype(sbom, ("CVE-2022-0778", OPENSSL)))
    assert (on_image.target, on_sbom.target) == ("shop/api", "sbom/shop.cdx.json")
    assert on_sbom.counts["findings_closed"] == 0
    assert status(app, LOG4SHELL) == "open"


def test_the_target_field_is_used_verbatim(app):
    scan, _ = submit(app, trivy("shop/api:1.0", (LOG4SHELL, LOG4J)), target="api 1.0 (prod)")
    assert scan.target == "api 1.0 (prod)"
    assert set(Occurrence.objects.values_list("target", flat=True)) == {"api 1.0 (prod)"}


def test_replay_is_per_stream(app):
    """A, B, A across two targets: A is still its stream's current report (200, same scan);
    A, A', A within one target imports A again (it changes the state back)."""
    a = trivy("shop/api:1.0", (LOG4SHELL, LOG4J))
    first, created = submit(app, a)
    submit(app, trivy("shop/worker:1.0", ("CVE-2022-0778", OPENSSL)))
    again, created_again = submit(app, a)
    assert created and (again.pk, created_again) == (first.pk, False)

    submit(app, trivy("shop/api:1.1", ("CVE-2022-0778", OPENSSL)))
    back, created_back = submit(app, a)
    assert created_back and back.pk != first.pk
    assert back.counts["findings_reopened"] == 1
    assert status(app, LOG4SHELL) == "reopened"


def _as_before_targets(app) -> None:
    """The state the migration leaves: every scan, occurrence and stream untargeted."""
    Scan.objects.filter(application=app).update(target="")
    Occurrence.objects.filter(application=app).update(target="")
    Stream.objects.filter(application=app).update(target="")


def test_first_named_scan_adopts_the_stream_older_than_targets(app):
    submit(app, trivy("shop/api:1.0", (LOG4SHELL, LOG4J), ("CVE-2022-0778", OPENSSL)))
    _as_before_targets(app)
    occurrences = Occurrence.objects.count()

    scan, _ = submit(app, trivy("shop/api:1.1", (LOG4SHELL, LOG4J), ("CVE-2022-0778", OPENSSL)))
    assert scan.counts["findings_new"] == 0 and scan.counts["findings_closed"] == 0
    assert Occurrence.objects.count() == occurrences  # adopted, not duplicated
    assert set(Occurrence.objects.values_list("target", flat=True)) == {"shop/api"}
    assert list(Stream.objects.values_list("target", flat=True)) == ["shop/api"]
    assert not Scan.objects.filter(application=app, target="").exists()

    # A second target of the same tool and branch starts its own stream: nothing to adopt.
    worker, _ = submit(app, trivy("shop/worker:1.0", ("CVE-2018-25032", ZLIB)))
    assert worker.counts["findings_closed"] == 0
    assert status(app, LOG4SHELL) == "open"


def test_no_adoption_once_a_named_stream_exists(app):
    submit(app, trivy("shop/api:1.0", (LOG4SHELL, LOG4J)))
    _as_before_targets(app)
    Stream.objects.create(
        tenant=app.tenant, application=app, tool="trivy", branch="main", target="shop/web"
    )
    scan, _ = submit(app, trivy("shop/api:1.1", (LOG4SHELL, LOG4J)))
    # (shop, trivy, main) has a named stream already: which target "" held is unknown, so the
    # old stream stays as it is (and keeps its findings open until it is retired or stale).
    assert scan.counts["findings_new"] == 0 and scan.counts["findings_closed"] == 0
    assert sorted(Occurrence.objects.values_list("target", flat=True)) == ["", "shop/api"]


def test_an_untargeted_report_stays_in_the_untargeted_stream(app):
    report = trivy("", (LOG4SHELL, LOG4J))
    scan, _ = submit(app, report)
    assert scan.target == ""
    empty, _ = submit(app, trivy("", ("CVE-2022-0778", OPENSSL)))
    assert empty.counts["findings_closed"] == 1


def test_stale_streams_retract_their_occurrences(app, settings):
    settings.FIXOPS_STREAM_STALE_DAYS = 30
    submit(app, trivy("shop/api:1.0", (LOG4SHELL, LOG4J), ("CVE-2022-0778", OPENSSL)))
    submit(app, trivy("shop/worker:1.0", ("CVE-2022-0778", OPENSSL)))
    Stream.objects.filter(target="shop/api").update(
        last_scan_at=timezone.now() - timedelta(days=31)
    )
    totals = streams_retire_stale()
    assert totals == {"streams": 1, "occurrences_retracted": 2, "findings_closed": 1}
    assert status(app, LOG4SHELL) == "fixed"
    assert status(app, "CVE-2022-0778") == "open"  # the worker image still reports it
    assert streams_retire_stale() == {
        "streams": 0,
        "occurrences_retracted": 0,
        "findings_closed": 0,
    }

    # Scanning the target again brings the stream back.
    submit(app, trivy("shop/api:1.1", (LOG4SHELL, LOG4J)))
    stream = Stream.objects.get(target="shop/api")
    assert stream.retired_at is None
    assert status(app, LOG4SHELL) == "reopened"


def test_retiring_a_stream_by_hand(app):
    submit(app, trivy("shop/api:1.0", (LOG4SHELL, LOG4J)))
    result = stream_retire(
        tenant=app.tenant,
        application=app,
        tool="trivy",
        branch="main",
        target="shop/api",
        actor="user:alice",
    )
    assert (result["occurrences_retracted"], result["findings_closed"]) == (1, 1)
    assert status(app, LOG4SHELL) == "fixed"
    event = AuditEvent.objects.get(action="stream.retire")
    assert event.actor == "user:alice" and event.after["target"] == "shop/api"


def test_a_queued_import_takes_its_target_from_its_report(app, settings):
    settings.FIXOPS_INGEST_ASYNC_BYTES = 10
    queued, _ = submit(app, trivy("shop/api:1.0", (LOG4SHELL, LOG4J)))
    assert (queued.status, queued.target) == ("queued", "")
    named, _ = submit(app, trivy("shop/web:1.0", (LOG4SHELL, LOG4J)), target="web")
    assert named.target == "web"  # the caller's, known before the import
    assert scan_process(scan_id=queued.pk).target == "shop/api"
    assert scan_process(scan_id=named.pk).target == "web"
    assert sorted(Stream.objects.values_list("target", flat=True)) == ["shop/api", "web"]


def test_a_report_with_no_results_closes_everything_its_stream_reported(app):
    submit(app, trivy("shop/api:1.0", (LOG4SHELL, LOG4J), ("CVE-2022-0778", OPENSSL)))
    clean, _ = submit(app, trivy("shop/api:1.1"))
    assert clean.counts["results"] == 0 and clean.counts["findings_closed"] == 2
    assert not Occurrence.objects.filter(retracted_at__isnull=True).exists()
