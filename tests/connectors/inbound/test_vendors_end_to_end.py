"""Each vendor's fake closes, reopens or presses at its end and signs the way the vendor does;
our endpoint stores the delivery and the inbox worker maps it with that vendor's defaults
(apps/connectors/inbound/mapping.py)."""

from __future__ import annotations

import pytest

from apps.connectors.inbound.inbox import inbox_drain
from apps.connectors.models import InboundDelivery
from apps.findings.models import FindingStatus
from apps.policies.models import RiskAcceptance
from tests.connectors.inbound.conftest import endpoint
from tests.findings.factories import FindingFactory

pytestmark = pytest.mark.django_db


def _drained(capture):
    with capture(execute=True):
        return inbox_drain(budget_seconds=10)


def _status(finding):
    finding.refresh_from_db()
    return finding.status


def test_servicenow_resolved_then_reopened(
    acme, fake_servicenow, make_integration, ticket_for, django_capture_on_commit_callbacks
):
    sn = make_integration(acme, fake_servicenow, min_severity="low")
    finding, link = ticket_for(sn)
    fake_servicenow.subscribe_webhook(endpoint(sn), secret=sn.webhook_secret)
    [resolved] = fake_servicenow.transition_issue(link.remote_id, "6")
    assert resolved.status == 202
    assert _drained(django_capture_on_commit_callbacks).applied == 1
    assert _status(finding) == FindingStatus.FIXED
    [again] = fake_servicenow.transition_issue(link.remote_id, "2")
    assert again.status == 202
    _drained(django_capture_on_commit_callbacks)
    assert _status(finding) == FindingStatus.REOPENED


def test_azure_devops_wont_fix_requests_an_acceptance(
    acme, fake_azure_devops, make_integration, ticket_for, django_capture_on_commit_callbacks
):
    ado = make_integration(acme, fake_azure_devops, min_severity="low")
    finding, link = ticket_for(ado)
    fake_azure_devops.subscribe_webhook(endpoint(ado), secret=ado.webhook_secret)
    [closed] = fake_azure_devops.transition_issue(
        int(link.remote_id), "Removed", resolution="Won't Fix"
    )
    assert closed.status == 202
    _drained(django_capture_on_commit_callbacks)
    assert _status(finding) == FindingStatus.OPEN
    assert RiskAcceptance.objects.filter(finding=finding, status="requested").count() == 1
    # The basic-auth password (our secret) is not stored with the delivery.
    assert "Authorization" not in InboundDelivery.objects.get().headers


def test_gitlab_close_sends_two_deliveries_applied_once(
    acme, fake_gitlab, make_integration, ticket_for, django_capture_on_commit_callbacks
):
    gitlab = make_integration(acme, fake_gitlab, min_severity="low")
    finding, link = ticket_for(gitlab)
    fake_gitlab.subscribe_webhook(endpoint(gitlab), secret=gitlab.webhook_secret)
    deliveries = fake_gitlab.transition_issue(int(link.remote_id), "closed")
    assert [d.status for d in deliveries] == [202, 202]  # update + close
    stats = _drained(django_capture_on_commit_callbacks)
    assert (stats.applied, stats.ignored) == (1, 1)
    assert _status(finding) == FindingStatus.FIXED


def test_slack_button_acknowledges_with_the_slack_issued_secret(
    acme, fake_slack, make_integration, django_capture_on_commit_callbacks
):
    slack = make_integration(acme, fake_slack)
    assert slack.webhook_secret == ""  # Slack issues the signing secret: a credential
    slack.credentials = {**slack.credentials, "signing_secret": "slack-issued-secret"}
    slack.save()
    finding = FindingFactory(tenant=acme)
    fake_slack.subscribe_webhook(endpoint(slack), secret="slack-issued-secret")
    [pressed] = fake_slack.press_button(
        "1700000000.000100", "acknowledge", f"fixops-f-{finding.pk}"
    )
    assert pressed.status == 202
    _drained(django_capture_on_commit_callbacks)
    assert _status(finding) == FindingStatus.TRIAGED
    fake_slack.subscriptions[-1].secret = "forged"
    [forged] = fake_slack.press_button("1700000000.000100", "acknowledge", f"fixops-f-{finding.pk}")
    assert forged.status == 401
