"""Paths accepted before normalisation keep their dedup keys.

`fixture_dedup_keys.json` holds, for each report of the fixture corpus as it was before paths
were normalised (tests/fixtures/scans, hostile ones aside), every result's dedup key and path,
computed by the code of that time. Today's parsers must still give each of those keys with its
path, so a database filled before the change sees 0 new and 0 closed findings when the same
reports come again. Fixtures added later are not in the file and are not checked here.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.findings.dedup import assign_keys
from apps.findings.parsers import HEAD_BYTES, detect_parser, get_parser
from apps.pipeline.ingest import scan_submit
from tests.findings.factories import ApplicationFactory

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scans"
BEFORE = json.loads((Path(__file__).parent / "fixture_dedup_keys.json").read_text())
NEEDS_FORMAT = {"gitleaks/empty.json": "gitleaks"}


def _keys(name: str) -> list[str]:
    data = (FIXTURES / name).read_bytes()
    fmt = NEEDS_FORMAT.get(name)
    parser = get_parser(fmt) if fmt else detect_parser(data[:HEAD_BYTES])
    findings = list(parser.parse(io.BytesIO(data)).findings)
    return sorted({f"{k.dedup_key} {k.finding.path}" for k in assign_keys(findings)})


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_the_corpus_keeps_its_keys_and_paths(name):
    """Every result that had a key keeps it, with its path. A result that was lost before
    and is read now (a later parser change) may add a key: that is a new finding, not a
    changed one."""
    missing = sorted(set(BEFORE[name]) - set(_keys(name)))
    assert not missing


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(BEFORE))
def test_reimporting_the_corpus_gives_nothing_new_and_closes_nothing(acme, name):
    """The same report again, as new bytes (a trailing newline: not an idempotent replay)."""
    app = ApplicationFactory(tenant=acme)
    data = (FIXTURES / name).read_bytes()
    fmt = NEEDS_FORMAT.get(name, "")
    for content, fresh in ((data, True), (data + b"\n", False)):
        upload = SimpleUploadedFile(name, content)
        scan, created = scan_submit(
            tenant=acme, application=app, upload=upload, branch="main", format=fmt
        )
        assert created and scan.status == "done"
        if not fresh:
            assert scan.counts["findings_new"] == 0
            assert scan.counts["findings_closed"] == 0
