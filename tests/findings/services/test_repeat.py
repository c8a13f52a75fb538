"""Repeated scans (docs/ingestion.md, "Repeated reports"): a report whose content is its
streams' last scan's, in other bytes, repeats that scan instead of being imported again; what
readers see is what a full import would have written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.findings.models import Finding, FindingEvent, Occurrence, Scan, Stream
from apps.findings.parsers import content
from apps.findings.selectors import findings_reported_by
from apps.findings.services import finding_transition
from apps.findings.streams import stream_retire
from apps.pipeline.gate import decision_make
from apps.pipeline.ingest import scan_submit
from tests.findings.factories import ApplicationFactory

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scans"


def sarif(*issues: int, ended: str = "2026-12-06T09:00:00Z", indent: int | None = None) -> bytes:
    """A semgrep SARIF log with one result per issue number, run at `ended`."""
    results = [
        {
            "ruleId": "python.sqli",
            "level": "error",
            "message": {"text": f"SQL injection {n}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f"src/module_{n}.py"},
                        "region": {"startLine": 10 + n},
                    }
                }
            ],
        }
        for n in issues
    ]
    run = {
        "tool": {"driver": {"name": "semgrep", "rules": [{"id": "python.sqli"}]}},
        "invocations": [{"executionSuccessful": True, "endTimeUtc": ended}],
        "results": results,
    }
    log = {"version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=indent).encode()


def submit(app, content: bytes, **fields):
    upload = SimpleUploadedFile("report.sarif", content)
    scan, _ = scan_submit(
        tenant=app.tenant, application=app, upload=upload, branch="main", **fields
    )
    return scan


@pytest.fixture
def app(acme):
    return ApplicationFactory(tenant=acme, name="shop")


@pytest.fixture
def first(app):
    return submit(app, sarif(1, 2, 3))


def test_same_content_in_other_bytes_repeats_the_scan(app, first):
    again = submit(app, sarif(1, 2, 3, ended="2026-12-07T09:00:00Z", indent=2))

    assert again.pk != first.pk and again.content_digest == first.content_digest != ""
    assert again.noise["repeats_scan"] == first.pk
    assert again.counts["findings_existing"] == 3
    assert again.counts["findings_new"] == again.counts["findings_closed"] == 0
    assert again.counts["results"] == first.counts["results"] == 3
    assert (again.tool_name, again.target) == (first.tool_name, first.target)
    stream = Stream.objects.get(application=app)
    assert stream.last_scan_id == again.pk and stream.sightings_pending
    # The rows keep the first scan's sighting; nothing was written per row.
    assert set(Occurrence.objects.values_list("last_scan_id", flat=True)) == {first.pk}


def test_readers_see_the_repeat_as_the_last_sighting(app, first, acme_analyst):
    again = submit(app, sarif(1, 2, 3, ended="2026-12-07T09:00:00Z", indent=2))
    seen_at = Stream.objects.get(application=app).last_scan_at

    listed = acme_analyst.get("/api/v1/findings/", {"application": app.pk}).json()["results"]
    assert len(listed) == 3
    assert {row["last_seen"] for row in listed} == {seen_at.isoformat().replace("+00:00", "Z")}
    finding = Finding.objects.filter(application=app).first()
    detail = acme_analyst.get(f"/api/v1/findings/{finding.pk}/").json()
    assert detail["last_seen"] == listed[0]["last_seen"]
    assert [o["last_scan_id"] for o in detail["occurrences"]] == [again.pk]
    # The gate's "reported by this decision's scans".
    ids = set(Finding.objects.filter(application=app).values_list("pk", flat=True))
    assert findings_reported_by(application_id=app.pk, scan_ids={again.pk}) == ids
    assert findings_reported_by(application_id=app.pk, scan_ids={first.pk}) == set()


def test_a_repeat_reopens_what_a_person_closed_while_it_is_reported(app, first):
    finding = Finding.objects.filter(application=app).order_by("pk").first()
    finding_transition(
        tenant=app.tenant, finding=finding, to_status="fixed", reason="patched", actor="alice"
    )

    again = submit(app, sarif(1, 2, 3, ended="2026-12-07T09:00:00Z"))

    finding.refresh_from_db()
    assert again.noise["repeats_scan"] == first.pk
    assert finding.status == "reopened" and finding.reopen_count == 1
    assert finding.closed_at is None
    assert again.counts["findings_reopened"] == 1
    event = FindingEvent.objects.filter(finding=finding).order_by("-id").first()
    assert (event.to_status, event.actor) == ("reopened", f"scan:{again.pk}")


def test_a_changed_report_after_a_repeat_settles_the_sightings(app, first):
    again = submit(app, sarif(1, 2, 3, ended="2026-12-07T09:00:00Z"))
    repeated_at = Stream.objects.get(application=app).last_scan_at

    changed = submit(app, sarif(1, 2, ended="2026-12-08T09:00:00Z"))

    assert "repeats_scan" not in changed.noise and changed.counts["findings_closed"] == 1
    stream = Stream.objects.get(application=app)
    assert stream.last_scan_id == changed.pk and not stream.sightings_pending
    gone = Occurrence.objects.get(retracted_at__isnull=False)
    # Seen last by the repeat, then no longer reported by the changed scan.
    assert (gone.last_scan_id, gone.last_seen) == (again.pk, repeated_at)
    assert gone.finding.last_seen == repeated_at and gone.finding.status == "fixed"
    live = Occurrence.objects.filter(retracted_at__isnull=True)
    assert {o.last_scan_id for o in live} == {changed.pk}


def test_a_repeat_of_a_repeat_and_then_a_retirement(app, first):
    second = submit(app, sarif(1, 2, 3, ended="2026-12-07T09:00:00Z"))
    third = submit(app, sarif(1, 2, 3, ended="2026-12-08T09:00:00Z"))
    assert third.noise["repeats_scan"] == second.pk
    assert third.counts == second.counts  # carried from the full import through the repeats
    stream = Stream.objects.get(application=app)

    stream_retire(
        tenant=app.tenant, application=app, tool=stream.tool, branch="main", target="",
        actor="alice",
    )  # fmt: skip

    occurrences = Occurrence.objects.all()
    assert {(o.last_scan_id, o.last_seen) for o in occurrences} == {(third.pk, stream.last_scan_at)}
    assert all(o.retracted_at is not None for o in occurrences)


def test_no_repeat_when_another_scan_took_the_stream_over(app, first):
    submit(app, sarif(1, 2, ended="2026-12-07T09:00:00Z"))  # a full import: issue 3 closed

    again = submit(app, sarif(1, 2, 3, ended="2026-12-08T09:00:00Z"))

    assert "repeats_scan" not in again.noise
    assert again.counts["findings_reopened"] == 1


def test_no_repeat_after_an_import_that_lost_a_result(app):
    lossy = json.loads(sarif(1, 2))
    lossy["runs"][0]["results"].append({"kind": "fail"})  # names no rule: unreadable
    first = submit(app, json.dumps(lossy).encode())
    assert first.counts["lost"] == 1 and first.content_digest == ""

    again = submit(app, json.dumps(lossy, indent=2).encode())

    assert "repeats_scan" not in again.noise and again.counts["lost"] == 1


def test_the_callers_context_is_part_of_the_content(app, first):
    other_target = submit(app, sarif(1, 2, 3, ended="2026-12-07T09:00:00Z"), target="api")
    assert "repeats_scan" not in other_target.noise
    assert other_target.content_digest != first.content_digest


def test_the_gate_counts_a_repeats_findings_as_in_its_scope(app, first):
    again = submit(app, sarif(1, 2, 3, ended="2026-12-07T09:00:00Z"))

    decision = decision_make(tenant=app.tenant, application=app, scan_ids=[again.pk])

    assert decision.input["summary"]["in_scope"] == 3
    assert decision.input["scans"][0]["counts"]["findings"] == 3
    # The rows still name the first scan: only the stream says the repeat saw them.
    assert set(Finding.objects.values_list("last_scan_id", flat=True)) == {first.pk}


def test_an_sbom_is_never_repeated(app):
    sbom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "components": [
            {"type": "library", "name": "zlib", "version": "1.2.11", "purl": "pkg:deb/zlib@1.2.11"}
        ],
    }
    first = submit(app, json.dumps(sbom).encode())
    again = submit(app, json.dumps(sbom, indent=2).encode())

    assert first.content_digest == "" and "repeats_scan" not in again.noise
    assert again.counts["components"] == 1  # their last_seen is written per row, by an import


def test_no_repeat_of_a_scan_whose_skipped_results_retention_emptied(app):
    warned = json.loads(sarif(1, 2))
    rule = warned["runs"][0]["tool"]["driver"]["rules"][0]
    rule["defaultConfiguration"] = {"level": "critical"}  # not a SARIF level: a warning
    first = submit(app, json.dumps(warned).encode())
    assert first.counts["warnings"] == 1 and len(first.skipped) == 1 and first.content_digest
    Scan.objects.filter(pk=first.pk).update(skipped=[])  # what scan_details_purge does

    again = submit(app, json.dumps(warned, indent=2).encode())

    assert "repeats_scan" not in again.noise and len(again.skipped) == 1


def test_no_repeat_of_an_import_that_dismissed_by_vex(app):
    """grype's VEX ignore rules set findings false_positive; a person may reopen one, and only
    a full import of the same report dismisses it again."""
    report = (FIXTURES / "grype" / "dir-demo-shop.json").read_bytes()
    first = submit(app, report)
    dismissed = Finding.objects.filter(application=app, status="false_positive")
    assert dismissed.exists() and first.content_digest == ""

    again = submit(app, json.dumps(json.loads(report), indent=1).encode())

    assert "repeats_scan" not in again.noise


def test_repeats_can_be_turned_off(app, settings):
    settings.FIXOPS_REPEAT_SCANS = False
    first = submit(app, sarif(1, 2, 3))

    again = submit(app, sarif(1, 2, 3, ended="2026-12-07T09:00:00Z"))

    assert first.content_digest == again.content_digest == ""
    assert "repeats_scan" not in again.noise and again.counts["findings_existing"] == 3


def test_no_repeat_across_a_change_of_the_conversion_code(app, first, monkeypatch):
    """An upgrade that changes how reports become findings imports the next report in full."""
    monkeypatch.setattr(content, "conversion_revision", lambda: "the next release")

    again = submit(app, sarif(1, 2, 3, ended="2026-12-07T09:00:00Z"))

    assert "repeats_scan" not in again.noise and again.content_digest != first.content_digest
