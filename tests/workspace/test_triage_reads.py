"""The read helpers behind the finding page: upgrade advice, acceptances that cover a
finding, grouped tickets found by reference; and the list for a superuser who acts in no
tenant (lists span every tenant, choices that need one are left out)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.connectors.delivery import finding_reference
from apps.connectors.models import ExternalLink, Integration
from apps.connectors.selectors import finding_links
from apps.intel.osv_versions import smallest_fix_above
from apps.policies.models import RiskAcceptance
from apps.policies.selectors import acceptances_covering
from tests.findings.factories import FindingFactory
from tests.tenants.factories import UserFactory


@pytest.mark.parametrize(
    ("purl", "installed", "fixed", "expected"),
    [
        ("pkg:pypi/django@3.2.1", "3.2.1", ["4.2.1", "3.2.20", "3.2.2", "2.0"], "3.2.2"),
        ("pkg:npm/lodash@4.17.15", "4.17.15", ["4.17.21", "4.17.12"], "4.17.21"),
        ("pkg:maven/org.x/y@1.0", "1.0", ["0.9"], None),  # nothing above it
        ("", "1.0", ["1.10", "1.9"], "1.9"),  # generic ordering, numeric parts
        ("pkg:npm/a@1.0.0", "", ["2.0.0", "1.5.0"], "1.5.0"),  # installed unknown
        ("pkg:npm/a@1.0.0", "1.0.0", [], None),
    ],
)
def test_smallest_fix_above(purl, installed, fixed, expected):
    assert smallest_fix_above(purl, installed, fixed) == expected


@pytest.mark.django_db
def test_acceptances_covering_a_finding(acme, globex):
    finding = FindingFactory(
        tenant=acme, vuln_id="CVE-2024-1", aliases=["GHSA-xxxx"], rule_id="r1", path="tests/a.py"
    )
    later = timezone.now() + timedelta(days=5)

    def accept(tenant, **values):
        return RiskAcceptance.objects.create(
            tenant=tenant, justification="j", expires_at=later, requested_label="u", **values
        )

    mine = [
        accept(acme, scope="finding", finding=finding),
        accept(acme, scope="vulnerability_all", vuln_id="ghsa-XXXX"),
        accept(
            acme, scope="vulnerability_app", application=finding.application, vuln_id="CVE-2024-1"
        ),
        accept(acme, scope="rule_path", rule_id="r1", path_pattern="tests/**"),
    ]
    accept(acme, scope="rule_path", rule_id="r1", path_pattern="src/**")  # path does not match
    accept(acme, scope="vulnerability_all", vuln_id="CVE-2024-2")
    accept(globex, scope="vulnerability_all", vuln_id="CVE-2024-1")  # another tenant's
    found = acceptances_covering(tenant=acme, finding=finding)
    assert sorted(a.pk for a in found) == sorted(a.pk for a in mine)


@pytest.mark.django_db
def test_grouped_tickets_are_found_by_reference(acme):
    by_rule = Integration.objects.create(tenant=acme, kind="github", name="gh", grouping="rule")
    finding = FindingFactory(tenant=acme, rule_id="sql-injection")
    sibling = FindingFactory(tenant=acme, rule_id="sql-injection", application=finding.application)
    other = FindingFactory(tenant=acme, rule_id="xss", application=finding.application)
    reference = finding_reference(
        "rule", {"application_id": finding.application_id, "rule_id": "sql-injection"}
    )
    ExternalLink.objects.create(
        tenant=acme, integration=by_rule, reference=reference, remote_id="9"
    )
    links = finding_links(tenant=acme, findings=[finding, sibling, other])
    assert [link.reference for link in links[finding.pk]] == [reference]
    assert [link.reference for link in links[sibling.pk]] == [reference]
    assert other.pk not in links


@pytest.mark.django_db
def test_superuser_in_no_tenant_sees_every_tenant_and_filters_work(acme, globex):
    a = FindingFactory(tenant=acme, kev=True, risk_score=5.0)
    b = FindingFactory(tenant=globex, risk_score=9.0)
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    for query in ("", "?kev=1", "?sla=on_time", "?tool=x", f"?application={a.application_id}"):
        response = client.get("/admin/findings/finding/" + query)
        assert response.status_code == 200, query
    page = client.get("/admin/findings/finding/").content.decode()
    assert page.index(f'value="{b.pk}"') < page.index(f'value="{a.pk}"')  # by risk
    assert client.get(f"/admin/findings/finding/{a.pk}/change/").status_code == 200
