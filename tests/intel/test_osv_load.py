"""Loading OSV exports: real PyPI advisories (tests/fixtures/osv, CC-BY-4.0) from a directory
and from a zip, rejection of corrupt and oversized archives with the current data kept, and
malformed records skipped by name."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.intel.feeds.osv import OsvFeedError, load_osv, osv_feed_load
from apps.intel.models import OsvAdvisory, OsvAffected, Vulnerability, VulnerabilityAlias

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "osv" / "vulns"
FIXTURE_COUNT = 20


def records() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))}


def statements(context: CaptureQueriesContext) -> list[str]:
    """SQL sent, without the savepoints nested transaction blocks add."""
    return [q["sql"] for q in context.captured_queries if "SAVEPOINT" not in q["sql"]]


def build_zip(path: Path, docs: dict[str, object], extra: dict[str, bytes] | None = None) -> Path:
    """An OSV-style all.zip: one <id>.json member per record."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, doc in docs.items():
            archive.writestr(f"{name}.json", json.dumps(doc))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


def test_load_directory_stores_advisories_aliases_and_vulnerabilities():
    result = osv_feed_load(path=str(FIXTURES))

    assert result.advisories == FIXTURE_COUNT
    assert len(result.new) == FIXTURE_COUNT and result.skipped_count == 0
    assert OsvAdvisory.objects.count() == FIXTURE_COUNT
    assert result.withdrawn == ["PYSEC-2023-73"]
    assert OsvAdvisory.objects.get(osv_id="PYSEC-2023-73").withdrawn is not None

    requests = OsvAffected.objects.get(advisory__osv_id="PYSEC-2018-28")
    assert (requests.ecosystem, requests.purl_type, requests.package) == (
        "PyPI",
        "pypi",
        "requests",
    )
    assert requests.fixed == ["2.20.0"]  # the GIT range's commit is not a version
    assert [r["type"] for r in requests.ranges] == ["GIT", "ECOSYSTEM"]

    # Alias claims point every id at the canonical CVE, with the advisory as their source.
    claims = set(
        VulnerabilityAlias.objects.filter(source="osv:PYSEC-2023-74").values_list(
            "alias", "vuln_id"
        )
    )
    assert claims == {
        ("PYSEC-2023-74", "CVE-2023-32681"),
        ("GHSA-J8R2-6X86-Q33Q", "CVE-2023-32681"),
    }
    assert not VulnerabilityAlias.objects.filter(source="osv:PYSEC-2023-73").exists()  # withdrawn

    # CVSS from the advisory's vector, re-scored by the cvss library.
    werkzeug = Vulnerability.objects.get(vuln_id="CVE-2023-46136")
    assert werkzeug.cvss_v3_vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"
    assert werkzeug.cvss_v3_score == 7.5
    assert Vulnerability.objects.filter(vuln_id="CVE-2018-18074").exists()
    assert "Requests" in Vulnerability.objects.get(vuln_id="CVE-2014-1829").summary


def test_load_zip_then_reload_rewrites_only_modified(tmp_path):
    docs = records()
    archive = build_zip(tmp_path / "all.zip", docs)
    assert load_osv(str(archive)) == FIXTURE_COUNT
    pks = dict(OsvAdvisory.objects.values_list("osv_id", "id"))

    with CaptureQueriesContext(connection) as unchanged_queries:
        again = osv_feed_load(path=str(archive))
    assert (again.new, again.modified, again.unchanged) == ([], [], FIXTURE_COUNT)
    assert again.match == {}
    assert len(statements(unchanged_queries)) == 1  # one lookup, no writes

    changed = docs["PYSEC-2018-28"]
    changed["modified"] = "2024-01-01T00:00:00Z"
    changed["affected"][0]["ranges"][1]["events"] = [{"introduced": "0"}, {"fixed": "2.21.0"}]
    build_zip(tmp_path / "all.zip", docs)
    third = osv_feed_load(path=str(archive))

    assert (third.new, third.modified) == ([], ["PYSEC-2018-28"])
    assert dict(OsvAdvisory.objects.values_list("osv_id", "id")) == pks  # rows kept, not recreated
    assert OsvAffected.objects.get(advisory__osv_id="PYSEC-2018-28").fixed == ["2.21.0"]


def test_statement_count_does_not_grow_with_advisories(tmp_path):
    docs = records()
    many = {}
    for i in range(200):
        doc = json.loads(json.dumps(docs["PYSEC-2023-74"]))
        doc["id"] = f"TEST-{i}"
        doc["aliases"] = [f"CVE-2099-{i:04d}"]
        many[doc["id"]] = doc
    with CaptureQueriesContext(connection) as few:
        osv_feed_load(path=str(build_zip(tmp_path / "few.zip", dict(list(many.items())[:20]))))
    with CaptureQueriesContext(connection) as lots:
        osv_feed_load(path=str(build_zip(tmp_path / "lots.zip", many)))
    assert len(statements(lots)) == len(statements(few))


def test_truncated_zip_is_rejected_and_current_data_stays(tmp_path):
    good = build_zip(tmp_path / "all.zip", records())
    load_osv(str(good))
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])

    with pytest.raises(OsvFeedError, match=r"truncated\.zip: corrupt or truncated zip"):
        load_osv(str(truncated))
    assert OsvAdvisory.objects.count() == FIXTURE_COUNT


def test_corrupt_member_rejects_the_whole_load(tmp_path):
    docs = records()
    path = build_zip(tmp_path / "all.zip", {"PYSEC-2018-28": docs["PYSEC-2018-28"]})
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.infolist()[0]
    # Flip bytes inside the member's compressed data: the central directory stays readable.
    start = info.header_offset + 30 + len(info.filename) + 10
    data[start : start + 8] = bytes(b ^ 0xFF for b in data[start : start + 8])
    path.write_bytes(bytes(data))

    with pytest.raises(OsvFeedError, match="at member PYSEC-2018-28.json"):
        load_osv(str(path))
    assert OsvAdvisory.objects.count() == 0


def test_zip_bomb_guard_caps_member_and_total_size(tmp_path):
    bomb = build_zip(tmp_path / "bomb.zip", {}, {"bomb.json": b" " * (4 * 1024 * 1024)})
    assert bomb.stat().st_size < 64 * 1024  # highly compressible: a classic bomb shape
    with pytest.raises(OsvFeedError, match="bomb.json is 4194304 bytes, over the 1048576-byte"):
        osv_feed_load(path=str(bomb), max_member_bytes=1024 * 1024)

    docs = records()
    with pytest.raises(OsvFeedError, match="possible zip bomb"):
        osv_feed_load(path=str(build_zip(tmp_path / "all.zip", docs)), max_total_bytes=20_000)
    assert OsvAdvisory.objects.count() == 0


def test_malformed_records_are_skipped_and_named(tmp_path):
    docs = records()
    no_package = json.loads(json.dumps(docs["PYSEC-2018-28"]))
    no_package["id"] = "BAD-1"
    del no_package["affected"][0]["package"]["name"]
    bad_range = json.loads(json.dumps(docs["PYSEC-2018-28"]))
    bad_range["id"] = "BAD-2"
    bad_range["affected"][0]["ranges"][1]["type"] = "VERSION"
    no_events = json.loads(json.dumps(docs["PYSEC-2018-28"]))
    no_events["id"] = "BAD-3"
    no_events["affected"][0]["ranges"][1]["events"] = []
    no_modified = {k: v for k, v in docs["PYSEC-2014-8"].items() if k != "modified"}
    extra = {
        "broken.json": b'{"id": "PYSEC-X", "modified": ',
        "no-modified.json": json.dumps(no_modified).encode(),
        "README.txt": b"not a record",  # not .json: ignored, like OSV's own exports
    }
    archive = build_zip(
        tmp_path / "all.zip",
        {**docs, "BAD-1": no_package, "BAD-2": bad_range, "BAD-3": no_events},
        extra,
    )

    result = osv_feed_load(path=str(archive))

    assert result.advisories == FIXTURE_COUNT
    assert result.skipped_count == 5
    reasons = {s["name"]: s["reason"] for s in result.skipped}
    assert reasons["BAD-1.json"] == "affected[0].package.name is missing"
    assert reasons["BAD-2.json"].startswith("affected[0].ranges[1].type must be one of")
    assert reasons["BAD-3.json"] == "affected[0].ranges[1].events must be a non-empty list"
    assert reasons["broken.json"].startswith("not JSON")
    assert "modified" in reasons["no-modified.json"]
    assert not OsvAdvisory.objects.filter(osv_id__startswith="BAD-").exists()


def test_export_without_any_valid_record_is_rejected(tmp_path):
    load_osv(str(FIXTURES))
    archive = build_zip(tmp_path / "all.zip", {}, {"x.json": b"[]"})
    with pytest.raises(OsvFeedError, match="no valid OSV advisory among 1 record"):
        load_osv(str(archive))
    with pytest.raises(OsvFeedError, match="no such file"):
        load_osv(str(tmp_path / "missing.zip"))
    assert OsvAdvisory.objects.count() == FIXTURE_COUNT


def test_cwe_ids_and_single_record_file(tmp_path):
    doc = records()["PYSEC-2023-74"]
    doc["id"] = "GHSA-TEST-0001"
    doc["database_specific"] = {"cwe_ids": ["CWE-200", "CWE-863"], "severity": "MODERATE"}
    path = tmp_path / "GHSA-TEST-0001.json"
    path.write_text(json.dumps(doc))

    assert load_osv(str(path)) == 1
    assert OsvAdvisory.objects.get(osv_id="GHSA-TEST-0001").cwes == [200, 863]


def test_findings_of_vulnerabilities_whose_cvss_changed_are_rescored(acme):
    from tests.findings.factories import FindingFactory

    scanner = FindingFactory(tenant=acme, kind="sca", vuln_id="CVE-2023-46136", severity="low")
    assert scanner.risk_score is None

    result = osv_feed_load(path=str(FIXTURES))

    assert result.rescored >= 1
    scanner.refresh_from_db()
    assert scanner.risk_score is not None and scanner.risk_explanation
