"""Upgrading to scan targets: today's fixture corpus, imported as streams without targets (the
state the migration leaves), re-imported after the change: 0 new, 0 closed, nothing doubled."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.findings.models import Finding, Occurrence, Scan, Stream
from apps.pipeline.ingest import scan_submit
from tests.findings.factories import ApplicationFactory

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scans"
REPORTS = sorted(
    p
    for p in FIXTURES.rglob("*")
    if p.is_file() and "hostile" not in p.parts and p.suffix in {".json", ".sarif", ".xml"}
)
NEEDS_FORMAT = {"gitleaks/empty.json": "gitleaks"}


def _submit(app, content: bytes, fmt: str):
    upload = SimpleUploadedFile("report", content)
    return scan_submit(
        tenant=app.tenant, application=app, upload=upload, branch="main", format=fmt
    )[0]


@pytest.mark.parametrize("path", REPORTS, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_reimporting_the_corpus_after_the_upgrade_changes_nothing(acme, path):
    app = ApplicationFactory(tenant=acme)
    fmt = NEEDS_FORMAT.get(str(path.relative_to(FIXTURES)), "")
    content = path.read_bytes()
    _submit(app, content, fmt)
    for model in (Scan, Occurrence, Stream):
        model.objects.filter(application=app).update(target="")
    before = (
        set(Finding.objects.filter(application=app).values_list("id", "status")),
        Occurrence.objects.filter(application=app).count(),
    )
    # The same report from the next pipeline run (other bytes: not an idempotent replay).
    scan = _submit(app, content + b"\n", fmt)
    assert scan.counts["findings_new"] == 0
    assert scan.counts["findings_closed"] == 0
    after = (
        set(Finding.objects.filter(application=app).values_list("id", "status")),
        Occurrence.objects.filter(application=app).count(),
    )
    assert after == before
    # One stream per tool of the report, each adopted by the report's target.
    streams = Stream.objects.filter(application=app)
    assert set(streams.values_list("target", flat=True)) == {scan.target}
    assert streams.count() == len(set(streams.values_list("tool", flat=True)))
    occurrences = Occurrence.objects.filter(application=app)
    assert set(occurrences.values_list("target", flat=True)) <= {scan.target}
