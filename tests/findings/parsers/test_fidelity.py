"""Fidelity on real reports: every report under tests/fixtures/scans/*/real/ is detected as its
format and gives exactly the counts `fidelity.REPORTS` states, through the parser and through
the real upload flow (apps/pipeline/ingest.py scan_submit). README.md's fidelity table is
generated from the same rows."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.findings.models import Finding
from apps.findings.parsers import HEAD_BYTES, detect_parser
from apps.pipeline.ingest import scan_submit
from tests.findings.factories import ApplicationFactory
from tests.findings.parsers.fidelity import REPORTS, SCANS, Real, markdown_table

README = Path(__file__).resolve().parents[3] / "README.md"


def _id(row: Real) -> str:
    return row.path


def test_every_real_report_is_in_the_table() -> None:
    on_disk = {
        str(path.relative_to(SCANS))
        for path in SCANS.glob("*/real/*")
        if path.is_file() and path.suffix not in (".md", ".py")  # provenance notes, writers
    }
    assert on_disk == {row.path for row in REPORTS}


def test_every_format_has_at_least_two_tool_versions() -> None:
    versions: dict[str, set[str]] = {}
    for row in REPORTS:
        versions.setdefault(row.format, set()).add(row.version)
    assert set(versions) >= {
        "sarif",
        "checkov",
        "detect-secrets",
        "cyclonedx-json",
        "cyclonedx-xml",
        "spdx-json",
        "spdx-tag-value",
        "gitleaks",
        "trufflehog",
        "trivy",
        "grype",
    }
    assert {fmt: len(v) for fmt, v in versions.items() if len(v) < 2} == {}


@pytest.mark.parametrize("row", REPORTS, ids=_id)
def test_parser_gives_the_stated_counts(row: Real) -> None:
    data = (SCANS / row.path).read_bytes()
    parser = detect_parser(data[:HEAD_BYTES])
    assert parser.format == row.format
    result = parser.parse(io.BytesIO(data))
    findings = list(result.findings)
    components = list(result.components)
    lost = sum(1 for issue in result.skipped if issue.lost_finding)
    assert {
        "results": len(findings) + lost,
        "lost": lost,
        "suppressed": sum(1 for f in findings if f.suppressed),
        "components": len(components),
    } == {
        "results": row.results,
        "lost": row.lost,
        "suppressed": row.suppressed,
        "components": row.components,
    }
    assert result.tool_name == row.tool
    # Some tools write "v7.4.0", some "7.4.0": the release is what matters.
    assert result.tool_version.removeprefix("v") == (row.version if row.reported_version else "")


@pytest.mark.django_db
@pytest.mark.parametrize("row", REPORTS, ids=_id)
def test_upload_flow_gives_the_stated_counts(row: Real, acme) -> None:
    application = ApplicationFactory(tenant=acme)
    upload = SimpleUploadedFile(Path(row.path).name, (SCANS / row.path).read_bytes())
    scan, created = scan_submit(tenant=acme, application=application, upload=upload, branch="main")
    assert created and scan.status == "done"
    assert scan.format == row.format
    counts = scan.counts
    lost = counts.get("lost", counts.get("skipped"))
    assert lost == row.lost
    # counts.results excluded lost results before the lost/results split; either way the
    # findings the report produced are results minus lost
    assert counts["results"] in {row.results, row.results - row.lost}
    assert Finding.objects.filter(application=application).count() == row.findings
    assert counts["components"] == row.components


def test_readme_fidelity_table_is_generated_from_the_rows() -> None:
    text = README.read_text()
    section = text.split("## Report fidelity", 1)[1].split("\n## ", 1)[0]
    assert markdown_table() in section, (
        "README.md's fidelity table is stale: paste `python -m tests.findings.parsers.fidelity`"
    )
