"""The triage list (apps/workspace/admin/findings.py): ordered by risk, active findings by
default, each filter parameter the dashboard links to, tenant-scoped bounded choices,
compact columns, and no inline style (strict CSP)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.connectors.models import ExternalLink, Integration
from apps.findings.admin import CappedCountPaginator
from apps.findings.models import Finding, Occurrence
from apps.tenants.teams import team_create
from tests.findings.factories import ApplicationFactory, FindingFactory
from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/findings/finding/"
ROW_ID = re.compile(r'name="_selected_action" value="(\d+)"')


def staff(username: str, tenant, role: str = "analyst") -> tuple[Client, object]:
    user = UserFactory(username=username, is_staff=True)
    MembershipFactory(user=user, tenant=tenant, role=role)
    client = Client()
    client.force_login(user)
    return client, user


def ids(client: Client, query: str = "") -> list[int]:
    response = client.get(LIST + query)
    assert response.status_code == 200, (query, response.status_code)
    return [int(pk) for pk in ROW_ID.findall(response.content.decode())]


def occurrence(finding, **values):
    base = {"tool": "semgrep", "branch": "main", "target": "", "rule_id": "r", "path": "a.py"}
    return Occurrence.objects.create(
        tenant=finding.tenant,
        application=finding.application,
        finding=finding,
        **{**base, **values},
    )


def test_ordered_by_risk_and_active_by_default(acme):
    low = FindingFactory(tenant=acme, risk_score=10.0)
    high = FindingFactory(tenant=acme, risk_score=90.0)
    mid = FindingFactory(tenant=acme, risk_score=50.0, status="triaged")
    fixed = FindingFactory(tenant=acme, risk_score=99.0, status="fixed")
    client, _ = staff("ana", acme)
    assert ids(client) == [high.pk, mid.pk, low.pk]
    assert ids(client, "?state=all") == [fixed.pk, high.pk, mid.pk, low.pk]
    assert ids(client, "?status=fixed") == [fixed.pk]  # a status choice overrides the default
    assert "3 findings" in client.get(LIST).content.decode()  # the filtered list's count
    assert "4 findings" in client.get(LIST + "?state=all").content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?severity=critical", {"crit"}),
        ("?kev=1", {"kev"}),
        ("?kev=0", {"crit", "plain", "owned", "ticketed"}),
        ("?ssvc=Act", {"kev"}),
        ("?ssvc=Track*", {"crit"}),
        ("?epss_min=0.5", {"kev"}),
        ("?sla=overdue", {"crit"}),
        ("?sla=paused&state=all", {"accepted"}),
        ("?has_ticket=1", {"ticketed"}),
        ("?owner=none", {"crit", "kev", "plain", "ticketed"}),
        ("?owner=me", {"owned"}),
        ("?tool=trivy", {"kev"}),
        ("?branch=release", {"plain"}),
        ("?target=registry.example/app:1", {"crit"}),
    ],
)
def test_each_filter_parameter(acme, query, expected):
    client, user = staff("ana", acme)
    rows = {
        "crit": FindingFactory(
            tenant=acme,
            severity="critical",
            ssvc="Track*",
            epss=0.1,
            due_at=timezone.now() - timedelta(days=1),
        ),
        "kev": FindingFactory(tenant=acme, kev=True, ssvc="Act", epss=0.9),
        "plain": FindingFactory(tenant=acme, severity="low"),
        "owned": FindingFactory(tenant=acme, owner_user=user),
        "ticketed": FindingFactory(tenant=acme),
        "accepted": FindingFactory(tenant=acme, status="risk_accepted"),
    }
    occurrence(rows["crit"], target="registry.example/app:1")
    occurrence(rows["kev"], tool="trivy")
    occurrence(rows["kev"], tool="semgrep")  # two occurrences: still one row
    occurrence(rows["plain"], branch="release")
    integration = Integration.objects.create(tenant=acme, kind="jira", name="jira")
    ExternalLink.objects.create(
        tenant=acme,
        integration=integration,
        reference="fixops-f-1",
        remote_id="1",
        finding=rows["ticketed"],
    )
    names = {pk: name for name, f in rows.items() for pk in [f.pk]}
    assert {names[pk] for pk in ids(client, query)} == expected


def test_application_filter_by_id_and_by_name(acme):
    app = ApplicationFactory(tenant=acme, name="payments-api")
    mine = FindingFactory(tenant=acme, application=app)
    FindingFactory(tenant=acme)
    client, _ = staff("ana", acme)
    assert ids(client, f"?application={app.pk}") == [mine.pk]
    assert ids(client, "?application=payments-api") == [mine.pk]
    assert ids(client, "?application=no-such-app") == []


def test_a_bad_value_is_the_admins_error_page_not_a_500(acme):
    FindingFactory(tenant=acme)
    client, _ = staff("ana", acme)
    for query in ("?epss_min=abc", "?epss_min=2", "?kev=maybe", "?owner=user-x", "?sla=late"):
        response = client.get(LIST + query)
        assert response.status_code == 302 and "e=1" in response["Location"], query


def test_owner_filter_by_team_and_user(acme):
    client, user = staff("ana", acme)
    team = team_create(tenant=acme, name="appsec", actor="test")
    by_team = FindingFactory(tenant=acme, owner_team=team)
    by_user = FindingFactory(tenant=acme, owner_user=user)
    assert ids(client, f"?owner=team-{team.pk}") == [by_team.pk]
    assert ids(client, f"?owner=user-{user.pk}") == [by_user.pk]


def test_choices_are_the_tenants_own_and_bounded(acme, globex):
    for n in range(20):
        ApplicationFactory(tenant=acme, name=f"acme-app-{n:02d}")
    globex_app = ApplicationFactory(tenant=globex, name="globex-app")
    other = FindingFactory(tenant=globex, application=globex_app)
    occurrence(other, tool="globex-tool", branch="globex-branch", target="globex-target")
    team_create(tenant=globex, name="globex-team", actor="test")
    client, _ = staff("ana", acme)
    page = client.get(LIST).content.decode()
    sidebar = re.search(r'<nav id="changelist-filter".*?</nav>', page, re.S).group(0)
    assert "globex" not in sidebar.lower()
    assert "acme-app-00" in sidebar and "acme-app-14" in sidebar
    assert "acme-app-15" not in sidebar  # the first 15; the box takes any other
    assert 'id="filter-form-application"' in sidebar
    assert 'data-filter="kev" data-value="1"' in sidebar


def test_columns_are_compact_without_a_not_in_kev_mark(acme):
    FindingFactory(tenant=acme, kev=False, title="x" * 300, risk_score=5.0)
    FindingFactory(tenant=acme, kev=True, ssvc="Act", epss=0.42, risk_score=7.0)
    client, _ = staff("ana", acme)
    page = client.get(LIST).content.decode()
    assert page.count(">KEV</span>") == 1  # only where it is in KEV
    assert "icon-no.svg" not in page  # no red ⊗ anywhere
    assert 'title="' + "x" * 300 + '"' in page and "x" * 300 + "<" not in page
    assert "EPSS 42.0%" in page and ">Act<" in page
    assert 'style="' not in page and "<script>" not in page  # strict CSP
    assert "fixops/workspace" in page


def test_ticket_column_links_the_ticket(acme):
    finding = FindingFactory(tenant=acme)
    integration = Integration.objects.create(tenant=acme, kind="jira", name="jira")
    ExternalLink.objects.create(
        tenant=acme,
        integration=integration,
        reference=f"fixops-f-{finding.pk}",
        remote_id="10",
        remote_key="SEC-7",
        remote_url="https://jira.example/browse/SEC-7",
        finding=finding,
    )
    client, _ = staff("ana", acme)
    page = client.get(LIST).content.decode()
    assert 'href="https://jira.example/browse/SEC-7"' in page and ">SEC-7<" in page


def test_count_is_capped_not_a_full_count(acme, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(CappedCountPaginator, "cap", 2)
    for _ in range(3):
        FindingFactory(tenant=acme)
    client, _ = staff("ana", acme)
    with django_assert_max_num_queries(25):
        page = client.get(LIST).content.decode()
    assert "2 findings" in page  # counted up to the cap, not all 3
    assert Finding.objects.count() == 3
