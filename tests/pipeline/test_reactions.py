"""Every finding change gets the same hooks, whatever caused it: findings that advisory matching
creates or closes open and close tickets like those of an import, after commit, exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.connectors.models import Integration, MessageKind, NotificationRule, OutboxMessage
from apps.connectors.tickets import findings_changed
from apps.findings.models import Finding
from apps.findings.services import finding_transition
from apps.findings.sla import sla_breaches_announce
from apps.intel.feeds.osv import osv_feed_load
from apps.intel.osv_match import match_components
from apps.pipeline.tasks import events_sweep_task
from fixops.platform import events
from fixops.platform.models import Event
from tests.findings.factories import ApplicationFactory, FindingFactory
from tests.intel.test_osv_match import OSV, REQUESTS_2_19, add_components, osv_findings

pytestmark = pytest.mark.django_db


@pytest.fixture
def jira(acme, fake_jira, make_integration):
    return make_integration(acme, fake_jira, min_severity="low")


@pytest.fixture
def shop(acme):
    return ApplicationFactory(tenant=acme, name="shop")


def _upserts():
    return OutboxMessage.objects.filter(kind=MessageKind.UPSERT)


def test_advisory_matched_findings_get_tickets_after_commit(
    jira, shop, django_capture_on_commit_callbacks
):
    osv_feed_load(path=str(OSV))
    add_components(shop, "pkg:pypi/requests@2.19.0")
    with django_capture_on_commit_callbacks(execute=True):
        result = match_components()
        assert not _upserts().exists()  # not before commit
    found = osv_findings(shop)
    assert set(found) == REQUESTS_2_19 and result.stats["findings_new"] == 2
    tickets = {m.payload["finding_id"] for m in _upserts()}
    assert tickets == {f.pk for f in found.values()}
    assert not Event.objects.filter(handled_at__isnull=True).exists()
    # A second handling of the same event (the sweeper after a crash) queues nothing new.
    [event] = result.events
    Event.objects.filter(pk=event.pk).update(handled_at=None)
    events.handle(event)
    assert _upserts().count() == 2


def test_a_person_closing_a_finding_closes_its_ticket_after_commit(
    jira, shop, acme, django_capture_on_commit_callbacks
):
    osv_feed_load(path=str(OSV))
    add_components(shop, "pkg:pypi/requests@2.19.0")
    with django_capture_on_commit_callbacks(execute=True):
        match_components()
    finding = Finding.objects.filter(application=shop).first()
    with django_capture_on_commit_callbacks(execute=True):
        finding_transition(
            tenant=acme, finding=finding, to_status="false_positive", actor="user:alice"
        )
    [closing] = OutboxMessage.objects.filter(kind=MessageKind.TRANSITION)
    assert closing.payload["status"] == "closed"
    assert "open -> false_positive by user:alice" in closing.payload["comment"]


def test_events_lost_after_commit_are_handed_over_by_the_sweeper(jira, shop):
    """No after-commit dispatch ran (the process died after COMMIT): the beat task finds the
    pending events and the tickets are queued all the same."""
    osv_feed_load(path=str(OSV))
    add_components(shop, "pkg:pypi/requests@2.19.0")
    match_components()  # its after-commit dispatch never runs in this test transaction
    assert not _upserts().exists()
    assert Event.objects.filter(handled_at__isnull=True).count() >= 1

    assert events_sweep_task() >= 1
    assert {m.payload["finding_id"] for m in _upserts()} == {
        f.pk for f in osv_findings(shop).values()
    }
    assert not Event.objects.filter(handled_at__isnull=True).exists()


def test_an_sla_breach_reaches_chat_and_the_existing_ticket_once(
    jira, shop, acme, django_capture_on_commit_callbacks
):
    slack = Integration(tenant=acme, kind="slack", name="alerts", base_url="https://slack.com")
    slack.credentials = {"bot_token": "xoxb-test"}
    slack.settings = {"channel": "C0123"}
    slack.save()
    NotificationRule.objects.create(
        tenant=acme, name="alerts", integration=slack, events=["sla_breached"]
    )
    late = timezone.now() - timedelta(hours=1)
    ticketed = FindingFactory(tenant=acme, application=shop, severity="critical", due_at=late)
    FindingFactory(tenant=acme, application=shop, severity="low", due_at=late)
    findings_changed(tenant_id=acme.pk, cause="seed", opened=[ticketed.pk])  # its ticket
    for _ in range(2):  # the beat task twice: announced once
        with django_capture_on_commit_callbacks(execute=True):
            sla_breaches_announce()
    [comment] = OutboxMessage.objects.filter(kind=MessageKind.COMMENT)
    assert comment.integration == jira and comment.reference == f"fixops-f-{ticketed.pk}"
    assert "SLA breached" in comment.payload["body"]
    [chat] = OutboxMessage.objects.filter(integration=slack)
    assert chat.payload["ticket"]["title"] == "2 finding(s) breached their SLA"
    assert f"#{ticketed.pk} critical" in chat.payload["ticket"]["body"]
