"""CISA KEV: a real 30-entry slice of the catalog, validated, loaded, announced."""

from __future__ import annotations

import json
from datetime import date

import pytest

from apps.intel.feeds import FeedRejected
from apps.intel.models import FeedStatus, IntelEvent, Vulnerability
from apps.intel.services import feed_refresh, feed_refresh_detailed
from tests.findings.factories import FindingFactory
from tests.intel.feedkit import KEV_SMALL, FeedServer

pytestmark = pytest.mark.django_db

NEW_CVE = "CVE-2025-48384"  # Git, dateAdded 2025-08-25: the newest entry of the catalog


@pytest.fixture
def server():
    with FeedServer() as running:
        yield running


def catalog(**changes) -> dict:
    doc = json.loads(KEV_SMALL.read_text())
    doc.update(changes)
    return doc


def without(doc: dict, cve: str) -> dict:
    doc["vulnerabilities"] = [v for v in doc["vulnerabilities"] if v["cveID"] != cve]
    doc["count"] = len(doc["vulnerabilities"])
    return doc


def serve(server, doc: dict, path: str = "/known_exploited_vulnerabilities.json") -> str:
    server.add(path, json.dumps(doc).encode(), content_type="application/json")
    return server.url(path)


def test_catalog_loads_every_field_stripped(server):
    status = feed_refresh(name="kev", url=serve(server, catalog()))

    assert (status.row_count, status.version, status.last_error) == (30, "2025.08.25", "")
    assert Vulnerability.objects.filter(kev=True).count() == 30
    simplehelp = Vulnerability.objects.get(vuln_id="CVE-2024-57727")
    assert simplehelp.kev_vendor == "SimpleHelp"  # "SimpleHelp " in the catalog
    beyondtrust = Vulnerability.objects.get(vuln_id="CVE-2024-12356")
    assert beyondtrust.kev_product.endswith("Remote Support (RS)")  # trailing space stripped
    git = Vulnerability.objects.get(vuln_id=NEW_CVE)
    assert (git.kev_date_added, git.kev_due_date) == (date(2025, 8, 25), date(2025, 9, 15))
    assert git.kev_cwes == ["CWE-59", "CWE-436"] and git.kev_ransomware is False
    assert git.kev_name == "Git Link Following Vulnerability"
    assert git.kev_required_action.startswith("Apply mitigations per vendor instructions")
    assert git.kev_notes.endswith("https://nvd.nist.gov/vuln/detail/CVE-2025-48384")
    assert git.summary.startswith("Git contains a link following vulnerability")
    assert Vulnerability.objects.get(vuln_id="CVE-2025-53770").kev_ransomware is True
    assert Vulnerability.objects.get(vuln_id="CVE-2025-8876").kev_cwes == []
    assert Vulnerability.objects.filter(vuln_id="CVE-2017-1000253", kev=True).exists()


def test_existing_intel_is_kept_and_an_unchanged_catalog_is_not_fetched_again(server):
    Vulnerability.objects.create(vuln_id=NEW_CVE, summary="from OSV", epss_score=0.3)
    url = serve(server, catalog())
    feed_refresh(name="kev", url=url)
    git = Vulnerability.objects.get(vuln_id=NEW_CVE)
    assert (git.summary, git.epss_score, git.kev) == ("from OSV", 0.3, True)

    run = feed_refresh_detailed(name="kev", url=url)
    assert run.unchanged and server.requests["/known_exploited_vulnerabilities.json"] == 2


def test_a_cve_leaving_the_catalog_loses_its_kev_columns(server):
    feed_refresh(name="kev", url=serve(server, catalog()))
    run = feed_refresh_detailed(name="kev", url=serve(server, without(catalog(), NEW_CVE), "/b"))
    git = Vulnerability.objects.get(vuln_id=NEW_CVE)
    assert (git.kev, git.kev_date_added, git.kev_vendor, git.kev_cwes) == (False, None, "", [])
    assert run.result.changed == [NEW_CVE]
    assert Vulnerability.objects.filter(kev=True).count() == 29


def test_newly_added_cve_is_an_event_for_open_findings_only(server, acme, globex):
    open_finding = FindingFactory(tenant=acme, vuln_id=NEW_CVE, status="in_progress")
    FindingFactory(tenant=acme, vuln_id=NEW_CVE, status="verified")  # closed: no event
    FindingFactory(tenant=globex, vuln_id="CVE-2024-8068")  # already in KEV: no event
    feed_refresh(name="kev", url=serve(server, without(catalog(), NEW_CVE), "/yesterday"))
    assert not IntelEvent.objects.exists()  # the first catalog is the baseline

    run = feed_refresh_detailed(name="kev", url=serve(server, catalog(catalogVersion="2025.08.26")))

    event = IntelEvent.objects.get()
    assert (event.tenant_id, event.kind, event.vuln_id, event.finding_id) == (
        acme.id,
        "kev_added",
        NEW_CVE,
        open_finding.id,
    )
    assert event.details["catalog_version"] == "2025.08.26"
    assert event.details["due_date"] == "2025-09-15" and event.details["vendor"] == "Git"
    assert run.result.changed == [NEW_CVE] and run.rescored == 2
    open_finding.refresh_from_db()
    assert open_finding.kev is True  # re-scored by apps.intel.risk


def test_unknown_fields_are_tolerated(tmp_path):
    doc = catalog()
    doc["vulnerabilities"][0]["forensicTriage"] = "No"
    doc["somethingNew"] = {"x": 1}
    path = tmp_path / "kev.json"
    path.write_text(json.dumps(doc))
    assert feed_refresh(name="kev", path=str(path)).row_count == 30


def _broken(doc_change) -> dict:
    doc = catalog()
    doc_change(doc)
    return doc


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["vulnerabilities"][3].update(cveID="CVE-25-1"),
            r"vulnerabilities\[3\] \(CVE-25-1\): cveID does not match",
        ),
        (
            lambda d: d["vulnerabilities"][5].pop("dueDate"),
            r"vulnerabilities\[5\]: required field 'dueDate' is missing",
        ),
        (
            lambda d: d["vulnerabilities"][2].update(dateAdded="08/25/2025"),
            r"\(CVE-2024-8069\): dateAdded '08/25/2025' is not a YYYY-MM-DD date",
        ),
        (lambda d: d.pop("catalogVersion"), "catalogVersion is missing"),
        (lambda d: d.update(count=1404), "count says 1404 entries but the list has 30"),
        (lambda d: d.update(vulnerabilities=[]), "`vulnerabilities` is missing or empty"),
        (
            lambda d: (
                d["vulnerabilities"].append(dict(d["vulnerabilities"][0])) or d.update(count=31)
            ),
            r"vulnerabilities\[30\]: CVE-2025-48384 appears twice",
        ),
    ],
)
def test_invalid_catalogs_are_rejected_and_the_old_data_kept(server, change, message):
    feed_refresh(name="kev", url=serve(server, catalog()))
    before = sorted(Vulnerability.objects.values_list("vuln_id", "kev", "kev_due_date"))
    with pytest.raises(FeedRejected, match=message):
        feed_refresh(name="kev", url=serve(server, _broken(change), "/broken"))
    assert sorted(Vulnerability.objects.values_list("vuln_id", "kev", "kev_due_date")) == before
    status = FeedStatus.objects.get(name="kev")
    assert status.version == "2025.08.25" and status.last_error


def test_truncated_json_is_rejected(server):
    body = KEV_SMALL.read_bytes()
    server.add("/cut.json", body[: len(body) // 2])
    with pytest.raises(FeedRejected, match="not valid JSON"):
        feed_refresh(name="kev", url=server.url("/cut.json"))
    assert not Vulnerability.objects.exists()
