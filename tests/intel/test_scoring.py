"""Bulk re-scoring against the database: intel through alias groups, tenant settings."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.findings.models import Finding
from apps.intel.models import RiskSettings, Vulnerability, VulnerabilityAlias
from apps.intel.scoring import risk_refresh
from tests.findings.factories import ApplicationFactory, FindingFactory
from tests.findings.reports import many, sarif, upload

pytestmark = pytest.mark.django_db
V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def _sca(app, vuln_id, aliases=(), **kwargs):
    return FindingFactory(
        tenant=app.tenant,
        application=app,
        kind="sca",
        severity="high",
        vuln_id=vuln_id,
        aliases=list(aliases),
        **kwargs,
    )


def test_intel_reaches_findings_through_alias_claims(acme):
    app = ApplicationFactory(tenant=acme, internet_exposed=True, criticality="critical")
    finding = _sca(app, "GHSA-aaaa-bbbb-cccc")
    Vulnerability.objects.create(vuln_id="CVE-2024-1", epss_score=0.4, kev=True, cvss_v3_vector=V31)
    VulnerabilityAlias.objects.create(
        alias="GHSA-aaaa-bbbb-cccc", vuln_id="CVE-2024-1", source="osv:GHSA-aaaa-bbbb-cccc"
    )
    assert risk_refresh(vuln_ids=["CVE-2024-1"]) == 1
    finding.refresh_from_db()
    assert finding.kev and finding.epss == 0.4
    assert finding.ssvc == "Act"  # active, automatable, total, high mission
    assert finding.risk_score > 90
    assert finding.risk_explanation["impact"]["base"]["vector"] == V31
    assert finding.risk_explanation["ssvc"]["exploitation"] == "active"


def test_tenant_ratios_apply_to_their_findings_only(acme, globex):
    mine = _sca(ApplicationFactory(tenant=acme), "CVE-2024-2")
    theirs = _sca(ApplicationFactory(tenant=globex), "CVE-2024-2")
    Vulnerability.objects.create(vuln_id="CVE-2024-2", epss_score=0.01, kev=True)
    RiskSettings.objects.create(tenant=acme, likelihood_ratios={"kev": 1.0})
    risk_refresh(finding_ids=[mine.pk, theirs.pk])
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.risk_score < theirs.risk_score


def test_import_scores_findings_inline(acme_analyst):
    body = acme_analyst.post(
        "/api/v1/scans/",
        {"file": upload(sarif(many(3))), "application": "web"},
        format="multipart",
    ).json()
    assert body["counts"]["findings_new"] == 3
    scores = list(
        Finding.objects.filter(application__name="web").values_list("risk_score", flat=True)
    )
    assert len(scores) == 3 and all(s is not None and s > 0 for s in scores)
    listed = acme_analyst.get("/api/v1/findings/", {"ordering": "-risk_score"}).json()
    assert listed["results"][0]["risk_score"] is not None
    detail = acme_analyst.get(f"/api/v1/findings/{listed['results'][0]['id']}/").json()
    assert detail["risk_explanation"]["formula"] == "100 * sqrt(likelihood * impact)"


def test_findings_api_filters_on_intel(acme, acme_viewer):
    # KEV, no vector, high mission: (active, no, partial, high) -> Attend in CISA's table
    app = ApplicationFactory(tenant=acme, criticality="high")
    hot = _sca(app, "CVE-2024-3")
    cold = _sca(app, "CVE-2024-4")
    Vulnerability.objects.create(vuln_id="CVE-2024-3", epss_score=0.9, kev=True)
    Vulnerability.objects.create(vuln_id="CVE-2024-4", epss_score=0.001)
    risk_refresh(application_id=app.pk)

    def ids(**params):
        return [f["id"] for f in acme_viewer.get("/api/v1/findings/", params).json()["results"]]

    assert ids(kev="true") == [hot.pk]
    assert ids(kev="false") == [cold.pk]
    assert ids(epss_min=0.5) == [hot.pk]
    assert ids(ordering="-risk_score") == [hot.pk, cold.pk]
    assert ids(ordering="-epss") == [hot.pk, cold.pk]
    assert ids(ssvc=["Attend", "Act", "Track*"]) == [hot.pk]


def test_query_count_is_independent_of_findings(acme):
    app = ApplicationFactory(tenant=acme)
    for i in range(30):
        _sca(app, f"CVE-2024-{100 + i}")

    def queries(ids):
        with CaptureQueriesContext(connection) as ctx:
            risk_refresh(finding_ids=ids)
        return len(ctx.captured_queries)

    all_ids = list(Finding.objects.values_list("id", flat=True))
    assert queries(all_ids[:3]) == queries(all_ids)
