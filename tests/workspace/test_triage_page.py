"""One finding's page: the risk explanation as a table, occurrences linking to the code
(safe URLs only), upgrade advice, tickets, acceptances, comments (added through the service,
audited), "assign to me", and no inline style."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.connectors.models import ExternalLink, Integration
from apps.findings.comments import comment_add
from apps.findings.models import Finding, FindingComment, Occurrence
from apps.intel.risk import Context, Intel, assess
from apps.policies.models import RiskAcceptance
from apps.workspace.triage import code_url, risk_factors
from fixops.platform.models import AuditEvent
from tests.findings.factories import ApplicationFactory, FindingFactory, ScanFactory
from tests.workspace.test_triage_list import staff

pytestmark = pytest.mark.django_db


def page_of(client, finding) -> str:
    response = client.get(f"/admin/findings/finding/{finding.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_risk_explanation_is_a_table_of_factors():
    result = assess(
        Context(kind="sca", severity="high", internet_exposed=True, criticality="high"),
        Intel(epss=0.2, kev=True, cvss_vectors=("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",)),
    )
    rows = {(r.part, r.name): r for r in risk_factors(result.explanation)}
    assert rows[("likelihood", "prior (epss)")].value == "p = 0.2"
    assert rows[("likelihood", "kev")].contribution == "log-odds +2.996"
    assert rows[("likelihood", "internet exposed")].value == "likelihood ratio 2"
    assert rows[("impact", "base")].value.endswith("(CVSS 9.8)")
    assert rows[("impact", "criticality")].contribution == "x 1"
    assert rows[("score", "risk score")].contribution == f"{result.score:.4g}"
    assert risk_factors({}) == [] and risk_factors({"likelihood": None, "x": 1})


@pytest.mark.parametrize(
    ("repo", "expected"),
    [
        (
            "https://github.com/acme/shop",
            "https://github.com/acme/shop/blob/abc123/src/a%20b.py#L7",
        ),
        (
            "https://github.com/acme/shop.git/",
            "https://github.com/acme/shop/blob/abc123/src/a%20b.py#L7",
        ),
        (
            "https://gitlab.com/acme/shop",
            "https://gitlab.com/acme/shop/-/blob/abc123/src/a%20b.py#L7",
        ),
        (
            "https://bitbucket.org/acme/shop",
            "https://bitbucket.org/acme/shop/src/abc123/src/a%20b.py#lines-7",
        ),
        (
            "https://dev.azure.com/acme/proj/_git/shop",
            "https://dev.azure.com/acme/proj/_git/shop?path=/src/a%20b.py&version=GCabc123"
            "&line=7&lineEnd=7&lineStartColumn=1&lineEndColumn=1",
        ),
        ("https://git.example.com/acme/shop", None),  # unknown host: no guess
        ("javascript:alert(1)//github.com", None),
        ("ftp://github.com/acme/shop", None),
        ("https://user:pw@github.com/acme/shop", None),
    ],
)
def test_code_url_shapes(repo, expected):
    assert code_url(repo, "abc123", "src/a b.py", 7) == expected


def test_code_url_refuses_unsafe_parts():
    repo = "https://github.com/acme/shop"
    assert code_url(repo, "", "a.py", 1) is None  # commit unknown
    assert code_url(repo, "abc", "../etc/passwd", 1) is None
    assert code_url(repo, "abc?x=<y>", "a.py", 1) is None
    assert code_url(repo, "abc", "", 1) is None
    assert code_url(repo, "abc", "a.py", None) == f"{repo}/blob/abc/a.py"


def test_page_shows_the_finding_for_reading(acme):
    app = ApplicationFactory(
        tenant=acme, name="payments-api", repo_url="https://github.com/acme/pay"
    )
    scan = ScanFactory(tenant=acme, application=app, commit="deadbeef")
    result = assess(Context(kind="sca", severity="high"), Intel(epss=0.3, kev=True))
    finding = FindingFactory(
        tenant=acme,
        application=app,
        kind="sca",
        severity="critical",
        title="lodash prototype pollution",
        component_purl="pkg:npm/lodash@4.17.15",
        component_name="lodash",
        component_version="4.17.15",
        fixed_versions=["4.17.21", "4.17.12", "5.0.0"],
        risk_score=result.score,
        risk_explanation=result.explanation,
        kev=True,
        due_at=timezone.now() - timedelta(days=2),
    )
    Occurrence.objects.create(
        tenant=acme,
        application=app,
        finding=finding,
        tool="trivy",
        branch="main",
        rule_id="r",
        path="package-lock.json",
        line=12,
        last_scan=scan,
    )
    Occurrence.objects.create(
        tenant=acme,
        application=app,
        finding=finding,
        tool="grype",
        branch="dev",
        rule_id="r",
        path="x/../../y",
        line=1,
        last_scan=scan,
    )
    jira = Integration.objects.create(tenant=acme, kind="jira", name="acme-jira")
    ExternalLink.objects.create(
        tenant=acme,
        integration=jira,
        reference=f"fixops-f-{finding.pk}",
        remote_id="1",
        remote_key="SEC-9",
        remote_url="https://jira.example/browse/SEC-9",
        remote_status="In Progress",
        finding=finding,
    )
    ExternalLink.objects.create(
        tenant=acme,
        integration=jira,
        reference="other",
        remote_id="2",
        remote_key="SEC-10",
        remote_url="javascript:alert(1)",
        finding=finding,
    )
    RiskAcceptance.objects.create(
        tenant=acme,
        scope="finding",
        finding=finding,
        justification="compensating WAF rule",
        expires_at=timezone.now() + timedelta(days=10),
        requested_label="user:bob",
    )
    comment_add(tenant=acme, finding=finding, body="looking into it", actor="user:bob")
    client, _ = staff("ana", acme)
    page = page_of(client, finding)
    assert 'id="risk-table"' in page and "log-odds +2.996" in page
    assert '"model": "fixops-risk-v1"' not in page  # no JSON dump
    assert 'href="https://github.com/acme/pay/blob/deadbeef/package-lock.json#L12"' in page
    assert "x/../../y:1</td>" in page  # an unsafe path is shown, not linked
    assert 'id="upgrade-to"' in page and "<strong>4.17.21</strong>" in page
    assert 'href="https://jira.example/browse/SEC-9"' in page and "In Progress" in page
    assert "javascript:" not in page  # a non-http ticket URL is not linked
    assert "compensating WAF rule" in page
    assert "looking into it" in page
    assert 'id="finding-sla"' in page and "Overdue" in page
    assert 'id="assign-to-me"' in page and 'id="comment-form"' in page
    assert 'style="' not in page and "<script>" not in page
    assert 'name="_save"' not in page  # every fact is read-only: nothing to save


def test_viewer_sees_no_forms(acme):
    finding = FindingFactory(tenant=acme)
    client, _ = staff("vic", acme, "viewer")
    page = page_of(client, finding)
    assert 'id="assign-to-me"' not in page and 'id="comment-form"' not in page
    client.post(f"/admin/findings/finding/{finding.pk}/comment/", {"body": "sneaky"})
    assert not FindingComment.objects.exists()


def test_comment_and_assign_to_me_go_through_the_services(acme, globex):
    finding = FindingFactory(tenant=acme)
    client, user = staff("ana", acme)
    base = f"/admin/findings/finding/{finding.pk}"
    assert client.get(f"{base}/comment/").status_code == 302  # GET: back to the page
    response = client.post(f"{base}/comment/", {"body": "reproduced on staging"})
    assert response.status_code == 302
    comment = FindingComment.objects.get()
    assert comment.body == "reproduced on staging" and comment.author_label == "user:ana"
    assert AuditEvent.objects.filter(action="comment.add").count() == 1
    client.post(f"{base}/comment/", {"body": "   "})  # refused: a message, not a 500
    assert FindingComment.objects.count() == 1
    assert client.post(f"{base}/assign-to-me/").status_code == 302
    finding.refresh_from_db()
    assert finding.owner_user_id == user.pk
    assert AuditEvent.objects.filter(action="finding.assign").count() == 1
    foreign = FindingFactory(tenant=globex)
    other = f"/admin/findings/finding/{foreign.pk}"
    assert client.post(f"{other}/assign-to-me/").status_code == 404
    assert client.post(f"{other}/comment/", {"body": "x"}).status_code == 404


def test_scan_reads_as_tool_number_application_branch(acme):
    app = ApplicationFactory(tenant=acme, name="payments-api")
    scan = ScanFactory(tenant=acme, application=app, tool_name="semgrep", branch="main")
    client, _ = staff("ana", acme)
    title = f"semgrep scan #{scan.pk} · payments-api · main"
    assert title in client.get("/admin/findings/scan/").content.decode()
    page = client.get(f"/admin/findings/scan/{scan.pk}/change/").content.decode()
    assert title in page and "sarif scan" not in page


def test_a_post_to_the_page_writes_nothing(acme):
    finding = FindingFactory(tenant=acme, title="original", severity="low")
    client, _ = staff("ana", acme)
    before = Finding.objects.filter(pk=finding.pk).values().get()
    response = client.post(
        f"/admin/findings/finding/{finding.pk}/change/", {"title": "edited", "severity": "info"}
    )
    assert response.status_code in (200, 302)
    assert Finding.objects.filter(pk=finding.pk).values().get() == before
    assert not AuditEvent.objects.filter(action="admin.change").exists()
