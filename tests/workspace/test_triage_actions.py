"""Bulk actions of the triage list: a risk-acceptance request (findings unchanged until an
approver approves), false positive with a required reason (transition + audit), tickets
queued through the outbox, and errors shown as messages, never a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.connectors.models import ExternalLink, Integration, OutboxMessage
from apps.findings.models import Finding, FindingEvent
from apps.policies.models import PolicySettings, RiskAcceptance
from fixops.platform.models import AuditEvent
from tests.findings.factories import FindingFactory
from tests.workspace.test_triage_list import LIST, staff

pytestmark = pytest.mark.django_db


def act(client, action: str, findings, **data):
    # As the page posts it: to the list as filtered (state=all shows closed findings too).
    body = {"action": action, "_selected_action": [f.pk for f in findings], **data}
    return client.post(LIST + "?state=all", body, follow=True)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_accept_risk_opens_a_request_and_leaves_the_finding(acme):
    PolicySettings.objects.create(tenant=acme, max_acceptance_days=30)
    findings = [FindingFactory(tenant=acme), FindingFactory(tenant=acme)]
    client, user = staff("ana", acme)
    step = act(client, "request_acceptance", findings)
    page = step.content.decode()
    assert step.status_code == 200 and 'id="acceptance-justification"' in page
    assert "At most 30 days" in page
    too_far = (timezone.now() + timedelta(days=60)).date().isoformat()
    refused = act(
        client,
        "request_acceptance",
        findings,
        apply="1",
        justification="WAF",
        expires_on=too_far,
    )
    assert refused.status_code == 200
    assert "the tenant&#x27;s policy" in refused.content.decode()
    assert not RiskAcceptance.objects.exists()
    day = (timezone.now() + timedelta(days=10)).date().isoformat()
    done = act(
        client,
        "request_acceptance",
        findings,
        apply="1",
        justification="behind the WAF",
        expires_on=day,
    )
    assert any("2 risk acceptance request(s)" in m for m in messages_of(done))
    requests = RiskAcceptance.objects.order_by("finding_id")
    assert [a.finding_id for a in requests] == sorted(f.pk for f in findings)
    assert {a.status for a in requests} == {"requested"}
    assert {a.requested_by_id for a in requests} == {user.pk}
    assert all(a.expires_at.date().isoformat() == day for a in requests)
    assert set(Finding.objects.values_list("status", flat=True)) == {"open"}
    assert AuditEvent.objects.filter(action="acceptance.request").count() == 2


def test_accept_risk_needs_a_justification(acme):
    finding = FindingFactory(tenant=acme)
    client, _ = staff("ana", acme)
    day = (timezone.now() + timedelta(days=5)).date().isoformat()
    page = act(client, "request_acceptance", [finding], apply="1", justification="", expires_on=day)
    assert page.status_code == 200 and "This field is required" in page.content.decode()
    assert not RiskAcceptance.objects.exists()


def test_false_positive_needs_a_reason_and_is_a_recorded_transition(acme):
    finding = FindingFactory(tenant=acme)
    fixed = FindingFactory(tenant=acme, status="fixed")
    client, _ = staff("ana", acme)
    page = act(client, "mark_false_positive", [finding], apply="1", reason="")
    assert "This field is required" in page.content.decode()
    assert Finding.objects.get(pk=finding.pk).status == "open"
    done = act(
        client, "mark_false_positive", [finding, fixed], apply="1", reason="test fixture only"
    )
    assert Finding.objects.get(pk=finding.pk).status == "false_positive"
    assert Finding.objects.get(pk=fixed.pk).status == "fixed"  # refused, as a warning
    texts = messages_of(done)
    assert any("1 finding(s) marked false positive" in m for m in texts)
    assert any(f"#{fixed.pk}" in m for m in texts), texts
    event = FindingEvent.objects.get(finding=finding)
    assert (event.to_status, event.reason, event.actor) == (
        "false_positive",
        "test fixture only",
        "user:ana",
    )
    audit = AuditEvent.objects.get(action="finding.status")
    assert audit.after == {"status": "false_positive", "reason": "test fixture only"}


def test_tickets_without_a_ticketing_integration_is_a_clear_message(acme):
    finding = FindingFactory(tenant=acme)
    client, _ = staff("ana", acme)
    done = act(client, "open_tickets", [finding])
    assert done.status_code == 200
    assert any("No ticketing integration" in m for m in messages_of(done))
    assert not OutboxMessage.objects.exists()


def test_tickets_are_queued_through_the_outbox(acme, django_capture_on_commit_callbacks):
    Integration.objects.create(tenant=acme, kind="jira", name="jira", min_severity="critical")
    below_bar = FindingFactory(tenant=acme, severity="low")
    linked = FindingFactory(tenant=acme, status="fixed")
    closed = FindingFactory(tenant=acme, status="verified")
    jira = Integration.objects.get()
    ExternalLink.objects.create(
        tenant=acme,
        integration=jira,
        reference=f"fixops-f-{linked.pk}",
        remote_id="5",
        finding=linked,
    )
    client, _ = staff("ana", acme)
    with django_capture_on_commit_callbacks():
        done = act(client, "open_tickets", [below_bar, linked, closed])
    texts = messages_of(done)
    assert any("2 ticket message(s) queued for 3 finding(s)" in m for m in texts), texts
    messages = {m.reference: m for m in OutboxMessage.objects.all()}
    assert set(messages) == {f"fixops-f-{below_bar.pk}", f"fixops-f-{linked.pk}"}
    assert messages[f"fixops-f-{below_bar.pk}"].payload["ticket"]["status"] == "open"
    assert messages[f"fixops-f-{linked.pk}"].payload["ticket"]["status"] == "closed"
    audit = AuditEvent.objects.get(action="ticket.request")
    assert audit.after["queued"] == 2 and audit.after["skipped"] == 1
