"""The decision page GRC reads: title, outcome, confidence and reasons before the input,
reason → finding links, confidence factors explained, policy version, scans, evidence verify
(a real signed bundle, then a tampered one) and download; the changelist's columns and the
dashboard's filter links; one tenant's decisions only."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.evidence.models import EvidenceBundle
from apps.policies.models import Decision
from tests.evidence.factories import make_bundle, make_decision
from tests.findings.factories import ApplicationFactory
from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _staff(tenant, name="grace", role="viewer") -> Client:
    user = UserFactory(username=name, is_staff=True)
    MembershipFactory(user=user, tenant=tenant, role=role)
    client = Client()
    client.force_login(user)
    return client


def _decision(tenant, name="payments-api", **kw) -> Decision:
    decision = make_decision(
        tenant,
        application=ApplicationFactory(tenant=tenant, name=name),
        commit="3f2a9c1d0e5b7a8c",
        **kw,
    )
    Decision.objects.filter(pk=decision.pk).update(
        created_at=datetime(2026, 12, 6, 10, 42, 17, tzinfo=UTC),
        confidence=0.684,
        confidence_detail={
            "factors": [
                {"name": "feed:epss", "factor": 0.9, "reason": "epss is 70 hours old"},
                {"name": "coverage", "factor": 0.76, "reason": "no scan in scope covers: secret"},
            ]
        },
        shadow=[
            {
                "policy": "strict-next",
                "version": 2,
                "outcome": "ALLOW",
                "reasons": [{"level": "warn", "rule": "W1", "message": "would only warn"}],
            }
        ],
    )
    return Decision.objects.get(pk=decision.pk)


def _url(decision, view="change") -> str:
    return f"/admin/policies/decision/{decision.pk}/{view}/"


def test_title_names_outcome_application_commit_and_time(acme):
    decision = _decision(acme)
    assert str(decision) == "BLOCK · payments-api @ 3f2a9c1 · 2026-12-06 10:42 UTC"


def test_page_shows_verdict_and_reasons_before_the_folded_input(acme, evidence_settings):
    decision = _decision(acme)
    make_bundle(decision)
    page = _staff(acme).get(_url(decision))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<title>BLOCK · payments-api @ 3f2a9c1 · 2026-12-06 10:42 UTC" in html
    order = [
        'id="decision-outcome"',
        'id="decision-reasons"',
        'id="decision-confidence-factors"',
        'id="decision-policy"',
        'id="decision-evidence"',
        '<details id="decision-input"',
    ]
    positions = [html.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "68%" in html  # the confidence, as a percentage
    # Each reason links its findings: one by one, and all of them in the findings list.
    ids = decision.reasons[0]["finding_ids"]
    for finding_id in ids:
        assert f'href="/admin/findings/finding/{finding_id}/change/"' in html
    assert f"/admin/findings/finding/?id__in={','.join(map(str, ids))}" in html
    # Confidence factors: the value, what happened and what it means.
    assert "× 0.9" in html and "epss is 70 hours old" in html
    assert "stale or never loaded" in html and "did not cover every kind" in html
    # The policy version links its admin page; the shadow verdict is shown.
    version = decision.policy_version
    assert f'href="/admin/policies/policyversion/{version.pk}/change/"' in html
    assert "strict-next" in html and "would only warn" in html
    for scan in decision.scans.all():
        assert f'href="/admin/findings/scan/{scan.pk}/change/"' in html
    # The input is folded and pretty-printed; no inline script or style anywhere.
    folded = re.search(r'<details id="decision-input">.*?</details>', html, re.S).group(0)
    assert "&quot;application&quot;: {" in folded
    assert '<details id="decision-input" open' not in html
    assert "<script>" not in html and 'style="' not in html
    for control in ('id="verify-evidence"', 'id="download-evidence"'):
        assert control in html


def test_verify_a_real_bundle_then_a_tampered_one(acme, evidence_settings):
    decision = _decision(acme)
    bundle = make_bundle(decision)
    client = _staff(acme)
    html = client.get(_url(decision, "verify")).content.decode()
    assert "Valid: the bundle verifies." in html
    for check in ("stored", "envelope_digest", "signature", "payload_digest", "subjects"):
        assert f'fixops-check-ok" data-check="{check}"' in html
    # Tamper with the stored object: the same button now says what failed.
    path = evidence_settings.FIXOPS_EVIDENCE_DIR / bundle.location
    path.chmod(0o600)
    path.write_bytes(b"gAAAA" + path.read_bytes()[5:-3] + b"xyz")
    html = client.get(_url(decision, "verify")).content.decode()
    assert "Not valid (unreadable)" in html
    assert 'fixops-check-failed" data-check="stored"' in html
    # An edited decision input no longer matches the signed subjects.
    other = _decision(acme, "orders-api")
    make_bundle(other)
    Decision.objects.filter(pk=other.pk).update(input={"edited": True})
    html = client.get(_url(other, "verify")).content.decode()
    assert 'fixops-check-failed" data-check="subjects"' in html
    assert 'fixops-check-ok" data-check="signature"' in html


def test_download_is_the_signed_envelope(acme, evidence_settings):
    decision = _decision(acme)
    bundle = make_bundle(decision)
    response = _staff(acme).get(_url(decision, "evidence"))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{bundle.file_name}"'
    envelope = json.loads(response.content)
    assert envelope["payloadType"] and envelope["signatures"]
    assert response["ETag"] == f'"sha256:{bundle.envelope_digest}"'
    # Pending (not stored yet): a message on the page, not a file.
    pending = _decision(acme, "orders-api")
    make_bundle(pending, store=False)
    response = _staff(acme, "other").get(_url(pending, "evidence"), follow=True)
    assert "not stored yet" in response.content.decode()


def test_a_decision_without_evidence_says_so(acme):
    decision = _decision(acme)
    client = _staff(acme)
    html = client.get(_url(decision)).content.decode()
    assert "No evidence bundle was recorded" in html and 'id="verify-evidence"' not in html
    response = client.get(_url(decision, "verify"), follow=True)
    assert "no evidence bundle to verify" in response.content.decode()


def test_other_tenants_decisions_are_not_reachable(acme, globex, evidence_settings):
    foreign = _decision(globex)
    make_bundle(foreign)
    client = _staff(acme)
    for view in ("change", "verify", "evidence"):
        response = client.get(_url(foreign, view))
        assert response.status_code == 302 and response["Location"] == "/admin/"
    listing = client.get("/admin/policies/decision/").content.decode()
    assert "payments-api" not in listing
    assert EvidenceBundle.objects.filter(decision=foreign).exists()


def test_changelist_columns_and_the_dashboards_filter_links(acme):
    blocked = _decision(acme)
    allowed = make_decision(acme, outcome="ALLOW", commit="aaaaaaa1111")
    client = _staff(acme)
    html = client.get("/admin/policies/decision/").content.decode()
    assert 'class="fixops-outcome fixops-outcome-block"' in html
    assert "3f2a9c1" in html and "3f2a9c1d" not in html and "68%" in html
    assert "payments-api" in html and "created_at__day=" in html, html[html.find("xfull") - 500 :]
    # The dashboard's link: one outcome within a week.
    start = datetime(2026, 12, 6, tzinfo=UTC)
    response = client.get(
        "/admin/policies/decision/",
        {
            "outcome__exact": "BLOCK",
            "created_at__gte": start.isoformat(),
            "created_at__lt": (start + timedelta(days=7)).isoformat(),
        },
    )
    assert response.status_code == 200
    rows = response.context["cl"].result_list
    assert [d.pk for d in rows] == [blocked.pk]
    today = timezone.now().date()
    response = client.get(
        "/admin/policies/decision/",
        {"outcome__exact": "ALLOW", "created_at__gte": str(today)},
    )
    assert [d.pk for d in response.context["cl"].result_list] == [allowed.pk]
    by_app = client.get(
        "/admin/policies/decision/", {"application__id__exact": blocked.application_id}
    )
    assert [d.pk for d in by_app.context["cl"].result_list] == [blocked.pk]


def test_an_engine_failure_and_a_pending_bundle_are_explained(acme, evidence_settings):
    decision = _decision(acme)
    Decision.objects.filter(pk=decision.pk).update(
        error="regopy: rego_parse_error", confidence_detail={}
    )
    make_bundle(decision, store=False)
    client = _staff(acme)
    html = client.get(_url(decision)).content.decode()
    assert 'id="decision-error"' in html and "rego_parse_error" in html
    assert "Nothing was missing or stale" in html
    html = client.get(_url(decision, "verify")).content.decode()
    assert "Not valid (pending)" in html
    assert 'fixops-check-failed" data-check="stored"' in html


def test_many_findings_are_summarised_in_a_constant_number_of_queries(acme):
    client = _staff(acme)
    counts = []
    for name, findings in (("small-api", 3), ("large-api", 40)):
        decision = _decision(acme, name, findings=findings)
        client.get(_url(decision))  # warm the session and caches
        with CaptureQueriesContext(connection) as queries:
            html = client.get(_url(decision)).content.decode()
        counts.append(len(queries))
        assert html.count('class="fixops-finding-link"') == min(findings, 10)
    assert "(30 not listed above)" in html
    assert counts[0] == counts[1], counts
