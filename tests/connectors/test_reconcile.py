"""Reconciliation reads linked tickets back from the fake vendors (paged batch reads), records
each kind of drift once, repairs it, honours Retry-After, skips open breakers, and a second run
changes nothing."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.connectors import drain, tickets
from apps.connectors.models import Drift, ExternalLink, Integration, OutboxMessage
from apps.connectors.reconcile import reconcile_all, reconcile_integration
from apps.connectors.services import integration_sync
from apps.findings.models import Finding
from fixops.platform.models import AuditEvent
from tests.findings.factories import ApplicationFactory, FindingFactory

pytestmark = pytest.mark.django_db


def _linked(tenant, integration, count: int) -> list[Finding]:
    """`count` high findings with a delivered ticket each."""
    findings = FindingFactory.create_batch(count, tenant=tenant, severity="high")
    tickets.findings_changed(tenant_id=tenant.pk, cause="scan1", opened=[f.pk for f in findings])
    drain.drain(budget_seconds=30)
    assert ExternalLink.objects.filter(integration=integration).count() == count
    return findings


def _link(finding) -> ExternalLink:
    return ExternalLink.objects.get(finding_id=finding.pk)


def _close_in_fixops(finding) -> None:
    # Behind the outbox's back (as a lost message would leave it): no close is queued.
    Finding.objects.filter(pk=finding.pk).update(status="fixed")


def _open_drift(**filters) -> list[tuple[str, str]]:
    return sorted(
        Drift.objects.filter(repaired_at__isnull=True, **filters).values_list("kind", "reference")
    )


def test_jira_each_drift_kind_found_repaired_and_second_run_is_idempotent(
    acme, fake_jira, make_integration
):
    jira = make_integration(acme, fake_jira)
    closed_at_vendor, deleted, closed_here, *in_line = _linked(acme, jira, 6)
    fake_jira.vendor_set_status(_link(closed_at_vendor).remote_key, "Done", "Done")
    fake_jira.vendor_delete(_link(deleted).remote_key)
    _close_in_fixops(closed_here)
    fake_jira.requests.clear()

    stats = reconcile_integration(jira, page_size=2)

    # Three keyset pages, each one bulk fetch of that page's issue ids.
    reads = fake_jira.requests_to("POST", r"/rest/api/3/issue/bulkfetch")
    assert [len(r.json["issueIdsOrKeys"]) for r in reads] == [2, 2, 2]
    assert {f for r in reads for f in r.json["fields"]} == {"status", "resolution"}
    assert stats.detected == {
        "ticket_closed_finding_open": 1,
        "ticket_deleted": 1,
        "finding_closed_ticket_open": 1,
    }
    # Ticket closed as done -> the finding is fixed (pending verification): repaired.
    closed_at_vendor.refresh_from_db()
    assert closed_at_vendor.status == "fixed"
    # Ticket deleted -> link removed, drift open until a new ticket carries the reference.
    assert not ExternalLink.objects.filter(finding_id=deleted.pk).exists()
    # Finding closed, ticket open -> the close is queued through the outbox.
    close = OutboxMessage.objects.get(reference=f"fixops-f-{closed_here.pk}", kind="transition")
    assert close.payload["status"] == "closed"
    assert _open_drift() == sorted(
        [
            ("finding_closed_ticket_open", f"fixops-f-{closed_here.pk}"),
            ("ticket_deleted", f"fixops-f-{deleted.pk}"),
        ]
    )

    # A second run at once: nothing new recorded, nothing queued twice.
    again = reconcile_integration(jira, page_size=2)
    assert again.detected == {} and Drift.objects.count() == 3
    assert OutboxMessage.objects.filter(kind="transition").count() == 1

    # The outbox delivers the close; a sync opens a new ticket for the still-active finding.
    drain.drain(budget_seconds=30)
    integration_sync(integration=jira)
    assert len(fake_jira.with_reference(f"fixops-f-{deleted.pk}")) == 1
    third = reconcile_integration(jira, page_size=2)
    assert third.detected == {}
    assert third.repaired == {"finding_closed_ticket_open": 1, "ticket_deleted": 1}
    assert _open_drift() == []
    assert all(d.repaired_at is not None for d in Drift.objects.all())
    assert [f.pk for f in in_line]  # untouched throughout
    assert not Drift.objects.filter(finding_id__in=[f.pk for f in in_line]).exists()


def test_drift_is_audited(acme, fake_jira, make_integration):
    jira = make_integration(acme, fake_jira)
    [finding] = _linked(acme, jira, 1)
    _close_in_fixops(finding)
    reconcile_integration(jira)
    drift = Drift.objects.get()
    events = AuditEvent.objects.filter(target_type="connectors.drift", target_id=str(drift.pk))
    assert list(events.values_list("action", flat=True)) == ["drift.detected"]
    assert events.get().after["kind"] == "finding_closed_ticket_open"


def test_rate_limit_429_retry_after_is_honoured(acme, fake_jira, make_integration, settings):
    settings.FIXOPS_RECONCILE_BACKOFF_SECONDS = 0.0
    jira = make_integration(acme, fake_jira)
    [finding] = _linked(acme, jira, 1)
    _close_in_fixops(finding)
    fake_jira.requests.clear()
    fake_jira.fail_next(1, 429, retry_after=1)
    started = timezone.now()
    stats = reconcile_integration(jira)
    waited = (timezone.now() - started).total_seconds()
    reads = fake_jira.requests_to("POST", r"/rest/api/3/issue/bulkfetch")
    assert [r.fault for r in reads][0] and len(reads) == 2  # refused once, then read
    assert waited >= 1.0  # not before the vendor's Retry-After
    assert stats.detected == {"finding_closed_ticket_open": 1} and not stats.error


def test_rate_limited_past_retries_stops_that_integration_only(
    acme, fake_jira, make_integration, settings
):
    settings.FIXOPS_RECONCILE_RETRIES = 1
    settings.FIXOPS_RECONCILE_BACKOFF_SECONDS = 0.0
    jira = make_integration(acme, fake_jira)
    [finding] = _linked(acme, jira, 1)
    _close_in_fixops(finding)
    fake_jira.fail_next(2, 429, retry_after=0)
    stats = reconcile_integration(jira)
    assert "429" in stats.error or "rate" in stats.error.lower()
    assert not Drift.objects.exists()
    assert reconcile_integration(jira).detected == {"finding_closed_ticket_open": 1}


def test_breaker_open_integrations_are_skipped(acme, fake_jira, make_integration):
    jira = make_integration(acme, fake_jira)
    [finding] = _linked(acme, jira, 1)
    _close_in_fixops(finding)
    Integration.objects.filter(pk=jira.pk).update(breaker_state="open")
    fake_jira.requests.clear()
    assert reconcile_all() == {}
    assert fake_jira.requests == [] and not Drift.objects.exists()
    Integration.objects.filter(pk=jira.pk).update(breaker_state="closed")
    assert reconcile_all()[jira.pk]["detected"] == {"finding_closed_ticket_open": 1}


def test_links_with_a_message_on_its_way_are_not_drift(acme, fake_jira, make_integration):
    jira = make_integration(acme, fake_jira)
    [finding] = _linked(acme, jira, 1)
    # The finding is fixed the normal way: its close is queued, not yet delivered.
    Finding.objects.filter(pk=finding.pk).update(status="fixed")
    tickets.findings_changed(tenant_id=acme.pk, cause="scan2", changes={finding.pk: "closed"})
    stats = reconcile_integration(jira)
    assert stats.skipped == 1 and stats.detected == {}


# Per vendor: the fake, its batch read (method, path), and how someone closes / deletes a
# ticket there. Closed states: Jira "Done", ServiceNow 6 (Resolved), GitLab/GitHub "closed",
# Azure DevOps "Done".
VENDORS = {
    "jira_dc": (
        "fake_jira_dc",
        ("GET", r"/rest/api/2/search"),
        lambda fake, link: fake.vendor_set_status(link.remote_key, "Done", "Done"),
        lambda fake, link: fake.vendor_delete(link.remote_key),
    ),
    "servicenow": (
        "fake_servicenow",
        ("GET", r"/api/now/table/incident"),
        lambda fake, link: fake.vendor_set_state(link.remote_id, "6", "Solution provided"),
        lambda fake, link: fake.vendor_delete(link.remote_id),
    ),
    "gitlab": (
        "fake_gitlab",
        ("GET", r"/api/v4/projects/[^/]+/issues"),
        lambda fake, link: fake.vendor_set_state(link.remote_id, "closed"),
        lambda fake, link: fake.vendor_delete(link.remote_id),
    ),
    "github": (
        "fake_github",
        ("GET", r"/repos/[^/]+/[^/]+/issues/\d+"),
        lambda fake, link: fake.vendor_set_state(link.remote_id, "closed"),
        lambda fake, link: fake.vendor_delete(link.remote_id),
    ),
    "azure_devops": (
        "fake_azure_devops",
        ("POST", r"/[^/]+/[^/]+/_apis/wit/workitemsbatch"),
        lambda fake, link: fake.vendor_set_state(link.remote_id, "Done"),
        lambda fake, link: fake.vendor_delete(link.remote_id),
    ),
}


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_every_tracker_is_read_back_in_batches_and_drift_found(
    vendor, request, acme, make_integration
):
    fixture, (method, path), close, delete = VENDORS[vendor]
    fake = request.getfixturevalue(fixture)
    integration = make_integration(acme, fake)
    closed_at_vendor, deleted, closed_here, _ = _linked(acme, integration, 4)
    close(fake, _link(closed_at_vendor))
    delete(fake, _link(deleted))
    _close_in_fixops(closed_here)
    fake.requests.clear()

    stats = reconcile_integration(integration, page_size=2)

    reads = fake.requests_to(method, path)
    # Two keyset pages: batched reads (GitHub: one GET per issue, no common label set).
    assert len(reads) == (4 if vendor == "github" else 2), [r.path for r in reads]
    assert stats.reads == 4 and stats.skipped == 0
    assert stats.detected == {
        "ticket_closed_finding_open": 1,
        "ticket_deleted": 1,
        "finding_closed_ticket_open": 1,
    }
    closed_at_vendor.refresh_from_db()
    assert closed_at_vendor.status == "fixed"
    assert reconcile_integration(integration, page_size=2).detected == {}


def test_github_with_a_common_label_lists_issues_by_label(acme, fake_github, make_integration):
    github = make_integration(acme, fake_github, settings={"labels": ["security"]})
    findings = _linked(acme, github, 3)
    fake_github.vendor_delete(_link(findings[0]).remote_id)
    fake_github.requests.clear()
    stats = reconcile_integration(github)
    listed = fake_github.requests_to("GET", r"/repos/[^/]+/[^/]+/issues$")
    assert [(r.arg("labels"), r.arg("state")) for r in listed] == [("security", "all")]
    # Only the issue the list did not show is read on its own (410 Gone: deleted).
    singles = fake_github.requests_to("GET", r"/repos/[^/]+/[^/]+/issues/\d+")
    assert [r.path.rsplit("/", 1)[1] for r in singles] == [_number(findings[0])]
    assert stats.detected == {"ticket_deleted": 1}


def _number(finding) -> str:
    return next(d.detail["remote_id"] for d in Drift.objects.filter(finding_id=finding.pk))


def test_beat_runs_reconciliation_every_configured_minutes(settings):
    from fixops.schedules import schedules

    settings.FIXOPS_RECONCILE_MINUTES = 45
    (entry,) = [s for s in schedules() if s.task == "fixops.connectors.reconcile"]
    assert entry.every == 45 * 60


def test_one_broken_integration_does_not_stop_the_others(
    acme, fake_jira, fake_gitlab, make_integration
):
    jira = make_integration(acme, fake_jira)
    gitlab = make_integration(acme, fake_gitlab)
    # A configuration the kind refuses now (stored before a validation rule tightened).
    Integration.objects.filter(pk=jira.pk).update(settings={})
    [finding] = _linked(acme, gitlab, 1)
    _close_in_fixops(finding)
    results = reconcile_all()
    assert "project_key" in results[jira.pk]["error"]
    assert results[gitlab.pk]["detected"] == {"finding_closed_ticket_open": 1}


def test_grouped_ticket_deleted_stays_open_until_the_group_has_a_ticket_again(
    acme, fake_jira, make_integration
):
    jira = make_integration(acme, fake_jira, grouping="rule")
    app = ApplicationFactory(tenant=acme)
    findings = FindingFactory.create_batch(
        2, tenant=acme, application=app, severity="high", rule_id="sqli"
    )
    tickets.findings_changed(tenant_id=acme.pk, cause="scan1", opened=[f.pk for f in findings])
    drain.drain(budget_seconds=30)
    link = ExternalLink.objects.get(integration=jira)
    assert link.finding_id is None  # one ticket for the rule's findings
    fake_jira.vendor_delete(link.remote_key)
    assert reconcile_integration(jira).detected == {"ticket_deleted": 1}
    assert _open_drift() == [("ticket_deleted", link.reference)]
    integration_sync(integration=jira)
    assert len(fake_jira.with_reference(link.reference)) == 1
    assert reconcile_integration(jira).repaired == {"ticket_deleted": 1}
    assert _open_drift() == []


def test_closed_as_wont_do_asks_an_approver_and_the_drift_stays_open(
    acme, fake_jira, make_integration
):
    jira = make_integration(acme, fake_jira)
    [finding] = _linked(acme, jira, 1)
    fake_jira.vendor_set_status(_link(finding).remote_key, "Done", "Won't Do")
    stats = reconcile_integration(jira)
    assert stats.detected == {"ticket_closed_finding_open": 1} and stats.repaired == {}
    finding.refresh_from_db()
    assert finding.status == "open"  # unchanged until an approver acts
    drift = Drift.objects.get()
    assert drift.repaired_at is None and drift.detail["repair"]
    # Idempotent: the next run asks nothing twice and records nothing new.
    assert reconcile_integration(jira).detected == {}
    assert Drift.objects.count() == 1
