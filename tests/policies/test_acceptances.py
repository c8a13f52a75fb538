"""Governed risk acceptance: bounded expiry, separation of duties, findings accepted on
approval and reopened (with a fresh SLA clock) on expiry; the gate sees the acceptance."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.connectors.models import Integration, NotificationRule, OutboxMessage
from apps.connectors.tickets import findings_changed
from apps.evidence.checkpoints import audit_chain_verify
from apps.findings.models import Finding, FindingEvent, SlaPolicy
from apps.pipeline.gate import decision_make
from apps.policies import acceptances
from apps.policies.models import AcceptanceStatus, PolicySettings, RiskAcceptance
from apps.policies.tasks import expire_acceptances_task
from fixops.platform.models import AuditEvent
from tests.findings.factories import ApplicationFactory, FindingFactory
from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(acme):
    def member(name, role):
        user = UserFactory(username=name)
        MembershipFactory(user=user, tenant=acme, role=role)
        return user

    return {
        "analyst": member("ana", "analyst"),
        "approver": member("grace", "approver"),
        "other_approver": member("gus", "approver"),
    }


@pytest.fixture
def kev_app(acme):
    app = ApplicationFactory(tenant=acme, name="shop", internet_exposed=True)
    log4j = FindingFactory(
        tenant=acme,
        application=app,
        kind="sca",
        vuln_id="CVE-2021-44228",
        kev=True,
        severity="critical",
        first_seen=timezone.now() - timedelta(days=40),
    )
    return app, log4j


def _session(user):
    client = APIClient()
    client.force_login(user)
    return client


def _request(acme, people, finding, days=30, **kw):
    return acceptances.acceptance_request(
        tenant=acme,
        user=people["approver"],
        actor="user:grace",
        scope="finding",
        finding=finding,
        justification="compensating WAF rule",
        expires_at=timezone.now() + timedelta(days=days),
        **kw,
    )


def test_request_needs_scope_fields_justification_and_bounded_expiry(acme, people, kev_app):
    app, log4j = kev_app
    with pytest.raises(Exception, match="needs: vuln_id"):
        acceptances.acceptance_request(
            tenant=acme,
            user=people["analyst"],
            actor="user:ana",
            scope="vulnerability_app",
            application=app,
            justification="x",
            expires_at=timezone.now() + timedelta(days=1),
        )
    with pytest.raises(Exception, match="at most 90 days"):
        _request(acme, people, log4j, days=91)
    PolicySettings.objects.create(tenant=acme, max_acceptance_days=10)
    with pytest.raises(Exception, match="at most 10 days"):
        _request(acme, people, log4j, days=11)
    with pytest.raises(Exception, match="in the future"):
        _request(acme, people, log4j, days=-1)


def test_api_flow_with_separation_of_duties(acme, people, kev_app, api_client, issue_token):
    app, log4j = kev_app
    analyst, approver = _session(people["analyst"]), _session(people["approver"])
    expires = (timezone.now() + timedelta(days=30)).isoformat()
    created = analyst.post(
        "/api/v1/acceptances/",
        {
            "scope": "vulnerability_app",
            "application": app.pk,
            "vuln_id": "CVE-2021-44228",
            "justification": "patched at the edge",
            "expires_at": expires,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    acceptance_id = created.json()["id"]

    # The analyst may not review at all; an API token cannot review; the requester cannot.
    assert analyst.post(f"/api/v1/acceptances/{acceptance_id}/approve/").status_code == 403
    token = api_client(issue_token(acme, role="admin"))
    refused = token.post(f"/api/v1/acceptances/{acceptance_id}/approve/")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "reviewer_required"

    own = _request(acme, people, log4j)
    refused = approver.post(f"/api/v1/acceptances/{own.pk}/approve/")
    assert refused.json()["error"]["code"] == "separation_of_duties"

    approved = approver.post(f"/api/v1/acceptances/{acceptance_id}/approve/", {"note": "ok"})
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "approved"
    assert approved.json()["reviewed_by"] == "user:grace"
    log4j.refresh_from_db()
    assert log4j.status == "risk_accepted"
    assert FindingEvent.objects.filter(finding=log4j, to_status="risk_accepted").exists()
    again = approver.post(f"/api/v1/acceptances/{acceptance_id}/approve/")
    assert again.status_code == 409


def test_reject_needs_a_note(acme, people, kev_app):
    _, log4j = kev_app
    acceptance = _request(acme, people, log4j)
    with pytest.raises(Exception, match="Say why"):
        acceptances.acceptance_reject(
            acceptance=acceptance, user=people["other_approver"], actor="u"
        )
    done = acceptances.acceptance_reject(
        acceptance=acceptance, user=people["other_approver"], actor="user:gus", note="no"
    )
    assert done.status == AcceptanceStatus.REJECTED


def test_gate_sees_the_acceptance_and_expiry_reopens_with_a_fresh_sla_clock(acme, people, kev_app):
    app, log4j = kev_app
    assert decision_make(tenant=acme, application=app).outcome == "BLOCK"
    acceptance = _request(acme, people, log4j, days=5)
    acceptances.acceptance_approve(
        acceptance=acceptance, user=people["other_approver"], actor="user:gus"
    )

    decision = decision_make(tenant=acme, application=app)
    assert decision.outcome == "ALLOW"
    assert [r["rule"] for r in decision.reasons] == ["FX-ACCEPTED"]
    [profile] = decision.input["profiles"]
    assert (profile["accepted"], profile["actionable"], profile["members"]) == (
        True,
        False,
        [log4j.pk],
    )
    assert decision.reasons[0]["finding_ids"] == [log4j.pk]

    later = timezone.now() + timedelta(days=6)
    assert acceptances.acceptances_expire(now=later) == 1
    log4j.refresh_from_db()
    acceptance.refresh_from_db()
    assert acceptance.status == AcceptanceStatus.EXPIRED
    assert log4j.status == "open"
    assert log4j.sla_started_at == later
    assert log4j.due_at == later + timedelta(days=7)  # a critical's full 7 days again
    assert decision_make(tenant=acme, application=app, now=later).outcome == "BLOCK"
    assert acceptances.acceptances_expire(now=later) == 0  # idempotent


def test_every_step_is_audited_and_expiry_is_announced(
    acme, people, kev_app, django_capture_on_commit_callbacks
):
    slack = Integration(tenant=acme, kind="slack", name="alerts", base_url="https://slack.com")
    slack.credentials = {"bot_token": "xoxb-test"}
    slack.settings = {"channel": "C0123"}
    slack.save()
    NotificationRule.objects.create(
        tenant=acme, name="alerts", integration=slack, events=["acceptance_expired"]
    )
    _, log4j = kev_app
    acceptance = _request(acme, people, log4j, days=1)
    acceptances.acceptance_approve(
        acceptance=acceptance, user=people["other_approver"], actor="user:gus"
    )
    with django_capture_on_commit_callbacks(execute=True):  # the notice is sent after commit
        acceptances.acceptances_expire(now=timezone.now() + timedelta(days=2))
    events = list(
        AuditEvent.objects.filter(tenant_id=acme.pk)
        .order_by("seq")
        .values_list("action", "target_id", "actor")
    )
    assert events == [
        ("acceptance.request", str(acceptance.pk), "user:grace"),
        ("acceptance.approve", str(acceptance.pk), "user:gus"),
        ("finding.status", str(log4j.pk), "user:gus"),
        ("acceptance.expire", str(acceptance.pk), "system:expiry"),
        ("finding.status", str(log4j.pk), "system:expiry"),
    ]
    assert audit_chain_verify(tenant_id=acme.pk).ok
    [message] = OutboxMessage.objects.filter(integration=slack)
    assert "expired" in message.payload["ticket"]["title"]


def test_expiry_resumes_the_clock_when_the_tenant_says_so(acme, people, kev_app):
    _, log4j = kev_app
    SlaPolicy.objects.create(tenant=acme, restart_on_expiry=False)
    acceptance = _request(acme, people, log4j, days=1)
    acceptances.acceptance_approve(acceptance=acceptance, user=people["other_approver"], actor="u")
    log4j.refresh_from_db()
    paused, due = log4j.sla_paused_at, log4j.due_at
    RiskAcceptance.objects.filter(pk=acceptance.pk).update(expires_at=timezone.now())
    assert expire_acceptances_task() == 1
    log4j.refresh_from_db()
    assert log4j.status == "open" and log4j.sla_paused_at is None
    # Resumed: the deadline moved by exactly the time the acceptance held it.
    assert log4j.due_at - due == log4j.sla_started_at - log4j.first_seen > timedelta(0)
    assert log4j.due_at - due < timezone.now() - paused + timedelta(seconds=1)


def test_finding_covered_by_two_acceptances_stays_accepted_until_both_end(acme, people, kev_app):
    app, log4j = kev_app
    one = _request(acme, people, log4j, days=2)
    two = acceptances.acceptance_request(
        tenant=acme,
        user=people["analyst"],
        actor="user:ana",
        scope="vulnerability_all",
        vuln_id="cve-2021-44228",
        justification="fleet-wide mitigation",
        expires_at=timezone.now() + timedelta(days=20),
    )
    for acceptance in (one, two):
        acceptances.acceptance_approve(
            acceptance=acceptance, user=people["other_approver"], actor="u"
        )
    acceptances.acceptance_revoke(acceptance=one, user=people["approver"], actor="u", note="done")
    log4j.refresh_from_db()
    assert log4j.status == "risk_accepted"
    acceptances.acceptance_revoke(acceptance=two, user=people["approver"], actor="u")
    log4j.refresh_from_db()
    assert log4j.status == "open"


def test_rule_path_scope_matches_globs(acme, people):
    app = ApplicationFactory(tenant=acme)
    in_tests = FindingFactory(
        tenant=acme, application=app, rule_id="B101", path="tests/unit/test_a.py"
    )
    at_root = FindingFactory(tenant=acme, application=app, rule_id="B101", path="test_b.py")
    in_src = FindingFactory(tenant=acme, application=app, rule_id="B101", path="src/a.py")
    acceptance = acceptances.acceptance_request(
        tenant=acme,
        user=people["analyst"],
        actor="user:ana",
        scope="rule_path",
        rule_id="B101",
        path_pattern="**/test_*.py",
        application=app,
        justification="asserts in tests",
        expires_at=timezone.now() + timedelta(days=3),
    )
    acceptances.acceptance_approve(acceptance=acceptance, user=people["approver"], actor="u")
    statuses = dict(Finding.objects.filter(application=app).values_list("pk", "status"))
    assert statuses == {
        in_tests.pk: "risk_accepted",
        at_root.pk: "risk_accepted",
        in_src.pk: "open",
    }


def test_accepting_closes_the_findings_ticket_and_expiry_reopens_it(
    acme, people, kev_app, django_capture_on_commit_callbacks
):
    gitlab = Integration(
        tenant=acme, kind="gitlab", name="tracker", base_url="https://gitlab.example.com"
    )
    gitlab.credentials = {"token": "glpat-x"}
    gitlab.settings = {"project": "acme/shop"}
    gitlab.min_severity = "low"
    gitlab.save()
    _, log4j = kev_app
    findings_changed(tenant_id=acme.pk, cause="scan1", opened=[log4j.pk])
    acceptance = _request(acme, people, log4j, days=1)
    # Tickets follow the findings after each commit.
    with django_capture_on_commit_callbacks(execute=True):
        acceptances.acceptance_approve(
            acceptance=acceptance, user=people["other_approver"], actor="u"
        )
    with django_capture_on_commit_callbacks(execute=True):
        acceptances.acceptances_expire(now=timezone.now() + timedelta(days=2))
    sent = [
        (m.kind, m.payload.get("status") or m.payload["ticket"]["status"])
        for m in OutboxMessage.objects.filter(integration=gitlab).order_by("id")
    ]
    assert sent == [("upsert", "open"), ("transition", "closed"), ("transition", "open")]
