"""Matching components against OSV advisories (real PyPI records from tests/fixtures/osv):
version ranges, names, re-matching on feed changes, withdrawal, upgrades, collapsing with
scanner findings of the same CVE, and tenant isolation."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from packageurl import PackageURL
from univers.versions import GolangVersion, PypiVersion, SemverVersion

from apps.findings.dedup import dedup_key
from apps.findings.models import Component, Finding, FindingEvent, Occurrence
from apps.findings.parsers.base import Component as ParsedComponent
from apps.findings.parsers.base import NormalizedFinding
from apps.intel.feeds.osv import osv_feed_load
from apps.intel.models import IntelEvent
from apps.intel.osv_match import match_application_components, match_components
from apps.intel.osv_versions import affected_key, compile_ranges, component_key
from apps.pipeline.ingest import scan_submit
from tests.findings.factories import ApplicationFactory

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OSV = FIXTURES / "osv" / "vulns"
TRIVY = FIXTURES / "scans" / "trivy" / "fs-demo-shop.json"
REQUESTS_2_19 = {"PYSEC-2018-28", "PYSEC-2023-74"}  # fixed 2.20.0; 2.3.0 <= v < 2.31.0


def record(osv_id: str) -> dict:
    return json.loads((OSV / f"{osv_id}.json").read_text())


def write_records(directory: Path, *docs: dict) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    for doc in docs:
        (directory / f"{doc['id']}.json").write_text(json.dumps(doc))
    return str(directory)


def synthetic(osv_id: str, package: str, *, ranges=None, versions=None, **extra) -> dict:
    """A minimal valid OSV record for cases the real snapshot lacks."""
    return {
        "id": osv_id,
        "modified": "2024-05-01T00:00:00Z",
        "summary": f"{osv_id} in {package}",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": package},
                "ranges": ranges or [],
                "versions": versions or [],
            }
        ],
        **extra,
    }


def add_components(app, *purls: str, scan=None) -> list[Component]:
    rows = []
    for purl in purls:
        parsed = PackageURL.from_string(purl)
        rows.append(
            Component(
                tenant=app.tenant,
                application=app,
                identity=hashlib.sha256(purl.encode()).hexdigest(),
                purl=purl,
                name=parsed.name,
                version=parsed.version or "",
                type="library",
                last_scan=scan,
            )
        )
    return Component.objects.bulk_create(rows)


def osv_findings(app) -> dict[str, Finding]:
    occurrences = Occurrence.objects.filter(application=app, tool="osv", branch="")
    return {
        o.rule_id: o.finding for o in occurrences.select_related("finding") if not o.retracted_at
    }


@pytest.fixture
def feed(db):
    return osv_feed_load(path=str(OSV))


@pytest.fixture
def shop(acme):
    return ApplicationFactory(tenant=acme, name="shop")


def test_requests_2_19_matches_its_advisories_and_2_32_does_not(feed, acme, shop):
    other = ApplicationFactory(tenant=acme, name="upgraded")
    add_components(shop, "pkg:pypi/requests@2.19.0")
    add_components(other, "pkg:pypi/requests@2.32.0")

    stats = match_components().stats

    found = osv_findings(shop)
    assert set(found) == REQUESTS_2_19
    assert osv_findings(other) == {}
    assert stats["findings_new"] == 2 and stats["matches"] == 2
    assert stats["git_ranges_ignored"] >= 2  # the records carry GIT commit ranges too

    finding = found["PYSEC-2018-28"]
    assert (finding.kind, finding.tool, finding.dedup_strategy) == ("sca", "osv", "sca")
    assert finding.tenant_id == acme.id and finding.status == "open"
    assert finding.vuln_id == "CVE-2018-18074"
    assert set(finding.aliases) == {"PYSEC-2018-28", "GHSA-X84V-XCM2-53PG"}
    assert finding.fixed_versions == ["2.20.0"]
    assert finding.severity == "medium"  # the record has no CVSS vector: documented default
    assert finding.title.startswith("The Requests package before 2.20.0")
    assert (finding.component_purl, finding.component_version) == (
        "pkg:pypi/requests@2.19.0",
        "2.19.0",
    )
    # Exactly the key dedup gives a scanner's report of this CVE in this package.
    scanner = NormalizedFinding(
        kind="sca",
        tool="grype",
        rule_id="CVE-2018-18074",
        title="x",
        severity="high",
        vuln_ids=("CVE-2018-18074",),
        component=ParsedComponent(
            name="requests", version="2.18.4", purl="pkg:pypi/requests@2.18.4"
        ),
    )
    assert finding.dedup_key == dedup_key(scanner)[0]
    assert finding.risk_score is not None  # scored like an imported finding

    events = IntelEvent.objects.filter(tenant=acme, kind="advisory_matched")
    assert sorted(events.values_list("vuln_id", flat=True)) == ["CVE-2018-18074", "CVE-2023-32681"]


def test_rematch_is_idempotent_and_query_count_is_flat(feed, shop):
    add_components(shop, "pkg:pypi/requests@2.19.0")
    match_application_components(shop.id)
    with CaptureQueriesContext(connection) as small:
        match_application_components(shop.id)
    assert Finding.objects.filter(application=shop).count() == 2
    assert Occurrence.objects.filter(application=shop).count() == 2
    assert IntelEvent.objects.count() == 2

    big = ApplicationFactory(tenant=shop.tenant, name="big")
    versions = [f"2.{minor}.{patch}" for minor in range(3, 30) for patch in range(4)]
    add_components(big, *(f"pkg:pypi/requests@{v}" for v in versions))
    add_components(big, *(f"pkg:pypi/jinja2@2.{m}.{p}" for m in range(11) for p in range(3)))
    match_application_components(big.id)
    with CaptureQueriesContext(connection) as large:
        match_application_components(big.id)
    assert len(large.captured_queries) == len(small.captured_queries)


def test_pep503_names_match_whatever_the_spelling(feed, shop):
    # A producer that kept the registry's display name: "Jinja2", not canonicalised.
    Component.objects.create(
        tenant=shop.tenant,
        application=shop,
        identity="jinja",
        purl="pkg:pypi/Jinja2@2.10",
        name="Jinja2",
        version="2.10",
    )
    match_application_components(shop.id)

    assert set(osv_findings(shop)) == {"PYSEC-2019-217", "PYSEC-2021-66"}
    assert affected_key("PyPI", "Zope.Interface") == ("pypi", "zope-interface")
    assert component_key("pkg:pypi/zope_interface@5.0") == ("pypi", "zope-interface", "5.0")


def test_last_affected_and_explicit_versions(tmp_path, shop):
    osv_feed_load(
        path=write_records(
            tmp_path / "feed",
            record("PYSEC-2022-42969"),  # py: introduced 0, last_affected 1.11.0
            synthetic(
                "TEST-LAST-1",
                "demo-lib",
                ranges=[
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "1.0"}, {"last_affected": "1.4"}],
                    }
                ],
            ),
            synthetic("TEST-LIST-1", "listed-lib", versions=["1.0.0", "1.0.2"]),
        )
    )
    add_components(
        shop,
        "pkg:pypi/py@1.11.0",
        "pkg:pypi/demo-lib@1.4",
        "pkg:pypi/listed-lib@1.0.2",
    )
    other = ApplicationFactory(tenant=shop.tenant, name="other")
    add_components(
        other,
        "pkg:pypi/py@1.11.1",
        "pkg:pypi/demo-lib@1.4.1",
        "pkg:pypi/demo-lib@0.9",
        "pkg:pypi/listed-lib@1.0.1",
    )

    match_components()

    assert set(osv_findings(shop)) == {"PYSEC-2022-42969", "TEST-LAST-1", "TEST-LIST-1"}
    assert osv_findings(other) == {}


def test_unparsable_version_is_counted_not_matched(feed, shop):
    add_components(shop, "pkg:pypi/requests@not%20a%20version", "pkg:pypi/requests")

    stats = match_application_components(shop.id).stats

    assert osv_findings(shop) == {}
    assert stats["unparsable_versions"] == 2  # no version at all cannot be placed either


def test_new_advisory_matches_without_an_upload(feed, tmp_path, shop):
    add_components(shop, "pkg:pypi/requests@2.19.0")
    match_application_components(shop.id)
    new = synthetic(
        "GHSA-TEST-NEW1",
        "Requests",
        ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": "2.0"}, {"fixed": "2.25.0"}]}],
        aliases=["CVE-2099-0001"],
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        database_specific={"cwe_ids": ["CWE-94"]},
    )

    result = osv_feed_load(path=write_records(tmp_path / "feed", new))

    assert result.new == ["GHSA-TEST-NEW1"] and result.match["findings_new"] == 1
    finding = osv_findings(shop)["GHSA-TEST-NEW1"]
    assert (finding.vuln_id, finding.severity, finding.cwe) == ("CVE-2099-0001", "critical", 94)
    assert finding.cvss[0]["score"] == 9.8
    assert IntelEvent.objects.filter(finding_id=finding.id, vuln_id="CVE-2099-0001").exists()


def test_withdrawn_advisory_closes_its_finding(feed, tmp_path, shop):
    add_components(shop, "pkg:pypi/requests@2.19.0")
    match_application_components(shop.id)
    finding = osv_findings(shop)["PYSEC-2023-74"]
    withdrawn = record("PYSEC-2023-74")
    withdrawn.update(modified="2024-06-01T00:00:00Z", withdrawn="2024-06-01T00:00:00Z")

    result = osv_feed_load(path=write_records(tmp_path / "feed", withdrawn))

    assert result.withdrawn == ["PYSEC-2023-74"] and result.match["findings_closed"] == 1
    finding.refresh_from_db()
    assert finding.status == "fixed" and finding.closed_at is not None
    assert set(osv_findings(shop)) == {"PYSEC-2018-28"}
    event = FindingEvent.objects.get(finding=finding)
    assert (event.from_status, event.to_status, event.actor) == ("open", "fixed", "intel:osv")


def test_withdrawn_advisory_with_a_live_twin_keeps_the_finding(feed, tmp_path, shop):
    twin = synthetic(
        "GHSA-X84V-XCM2-53PG",
        "requests",
        ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.20.0"}]}],
        aliases=["CVE-2018-18074"],
    )
    osv_feed_load(path=write_records(tmp_path / "twin", twin))
    add_components(shop, "pkg:pypi/requests@2.19.0")
    match_application_components(shop.id)
    assert Finding.objects.filter(application=shop, vuln_id="CVE-2018-18074").count() == 1
    withdrawn = record("PYSEC-2018-28")
    withdrawn.update(modified="2024-06-01T00:00:00Z", withdrawn="2024-06-01T00:00:00Z")

    result = osv_feed_load(path=write_records(tmp_path / "withdraw", withdrawn))

    assert result.match.get("findings_closed", 0) == 0
    assert Finding.objects.get(application=shop, vuln_id="CVE-2018-18074").status == "open"


def _sbom(*components: tuple[str, str]) -> SimpleUploadedFile:
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {"tools": {"components": [{"type": "application", "name": "syft"}]}},
        "components": [
            {
                "type": "library",
                "bom-ref": f"{name}@{version}",
                "name": name,
                "version": version,
                "purl": f"pkg:pypi/{name}@{version}",
            }
            for name, version in components
        ],
    }
    return SimpleUploadedFile("sbom.cdx.json", json.dumps(document).encode())


def test_upgrade_in_a_newer_sbom_retracts_and_closes(feed, acme, shop, settings):
    settings.FIXOPS_RISK_INLINE_MAX = 0  # match explicitly below, to read each run's counts
    scan_submit(tenant=acme, application=shop, upload=_sbom(("requests", "2.19.0")), branch="main")
    match_application_components(shop.id)
    assert set(osv_findings(shop)) == REQUESTS_2_19

    scan_submit(tenant=acme, application=shop, upload=_sbom(("requests", "2.32.0")), branch="main")
    stats = match_application_components(shop.id).stats

    assert stats["components_stale"] == 1
    assert stats["occurrences_retracted"] == 2 and stats["findings_closed"] == 2
    assert set(Finding.objects.filter(application=shop).values_list("status", flat=True)) == {
        "fixed"
    }
    assert osv_findings(shop) == {}

    # Downgrading again reopens the same findings rather than creating new ones.
    scan_submit(tenant=acme, application=shop, upload=_sbom(("requests", "2.19.1")), branch="main")
    stats = match_application_components(shop.id).stats
    assert stats["findings_reopened"] == 2 and stats.get("findings_new", 0) == 0
    assert Finding.objects.filter(application=shop).count() == 2


def test_trivy_finding_collapses_with_the_osv_finding(feed, acme, shop, settings):
    settings.FIXOPS_RISK_INLINE_MAX = 0  # match explicitly below, to read the run's counts
    scan_submit(
        tenant=acme,
        application=shop,
        upload=SimpleUploadedFile(TRIVY.name, TRIVY.read_bytes()),
        format="trivy",
    )
    before = Finding.objects.filter(application=shop, vuln_id="CVE-2018-18074").get()

    stats = match_application_components(shop.id).stats

    finding = Finding.objects.filter(application=shop, vuln_id="CVE-2018-18074").get()
    assert finding.id == before.id and finding.tool == "trivy"
    assert set(finding.occurrences.values_list("tool", flat=True)) == {"trivy", "osv"}
    urllib3 = Finding.objects.get(application=shop, vuln_id="CVE-2023-43804")
    assert set(urllib3.occurrences.values_list("tool", flat=True)) == {"trivy", "osv"}
    assert stats["findings_existing"] == 2
    # Collapsed findings are not new: no "new advisory" event for them.
    assert not IntelEvent.objects.filter(finding_id__in=[finding.id, urllib3.id]).exists()


def test_each_tenant_gets_its_own_findings(feed, acme, globex):
    acme_app = ApplicationFactory(tenant=acme, name="shop")
    globex_app = ApplicationFactory(tenant=globex, name="shop")
    add_components(acme_app, "pkg:pypi/requests@2.19.0")
    add_components(globex_app, "pkg:pypi/requests@2.19.0", "pkg:pypi/werkzeug@2.3.7")

    match_components()

    acme_found, globex_found = osv_findings(acme_app), osv_findings(globex_app)
    assert set(acme_found) == REQUESTS_2_19
    assert set(globex_found) == REQUESTS_2_19 | {"PYSEC-2023-221"}
    assert {f.tenant_id for f in acme_found.values()} == {acme.id}
    assert {f.tenant_id for f in globex_found.values()} == {globex.id}
    assert acme_found["PYSEC-2018-28"].id != globex_found["PYSEC-2018-28"].id
    assert globex_found["PYSEC-2023-221"].severity == "high"  # CVSS 3.1 vector scores 7.5
    assert set(
        Occurrence.objects.filter(application=acme_app).values_list("tenant_id", flat=True)
    ) == {acme.id}
    assert IntelEvent.objects.filter(tenant=acme).count() == 2
    assert IntelEvent.objects.filter(tenant=globex).count() == 3


def test_other_ecosystems_keys_and_ranges():
    from collections import Counter

    assert component_key("pkg:npm/%40angular/core@16.0.0") == ("npm", "@angular/core", "16.0.0")
    assert affected_key("npm", "@angular/core") == ("npm", "@angular/core")
    assert component_key("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1")[:2] == (
        affected_key("Maven", "org.apache.logging.log4j:log4j-core")
    )
    assert component_key("pkg:golang/github.com/gin-gonic/gin@v1.9.0")[:2] == affected_key(
        "Go", "github.com/gin-gonic/gin"
    )
    assert affected_key("Debian:12", "openssl") == component_key("pkg:deb/debian/openssl@3.0")[:2]

    stats: Counter = Counter()
    events = [{"introduced": "0"}, {"fixed": "1.9.1"}]
    (go,) = compile_ranges("golang", [{"type": "SEMVER", "events": events}], stats)
    assert go.cls is SemverVersion and go.contains(SemverVersion("v1.9.0"))
    (eco,) = compile_ranges("golang", [{"type": "ECOSYSTEM", "events": events}], stats)
    assert eco.contains(GolangVersion("v1.9.0")) and not eco.contains(GolangVersion("v1.9.1"))
    # Unsorted events (real urllib3 record) and a limit.
    ranges = [
        {
            "type": "ECOSYSTEM",
            "events": [
                {"introduced": "2.0.0"},
                {"fixed": "2.0.6"},
                {"introduced": "0"},
                {"fixed": "1.26.17"},
            ],
        },
        {"type": "ECOSYSTEM", "events": [{"introduced": "3.0"}, {"limit": "3.5"}]},
        {"type": "ECOSYSTEM", "events": [{"introduced": "not a version"}]},
    ]
    pairs, limited = compile_ranges("pypi", ranges, stats)
    assert stats["unparsable_ranges"] == 1
    assert [pairs.contains(PypiVersion(v)) for v in ("1.26.16", "1.26.17", "2.0.5", "2.0.6")] == [
        True,
        False,
        True,
        False,
    ]
    assert limited.contains(PypiVersion("3.4")) and not limited.contains(PypiVersion("3.5"))


def test_plain_sbom_upload_yields_advisory_findings(acme, acme_analyst):
    """A CycloneDX SBOM without vulnerabilities, uploaded after advisories are loaded, gets
    its findings at once (matching runs inside the upload for CI-sized SBOMs)."""
    from apps.intel.feeds.osv import load_osv
    from tests.findings.reports import upload

    load_osv(str(OSV))
    sbom = (FIXTURES / "scans" / "cyclonedx" / "env-1.5.cdx.json").read_bytes()
    response = acme_analyst.post(
        "/api/v1/scans/", {"file": upload(sbom), "application": "shop"}, format="multipart"
    )
    body = response.json()
    assert response.status_code == 201 and body["counts"]["components"] > 0
    assert body["counts"]["advisory_findings_new"] > 0
    osv = Finding.objects.filter(application__name="shop", occurrences__tool="osv")
    assert osv.count() == body["counts"]["advisory_findings_new"]
    assert all(f.risk_score is not None for f in osv)
