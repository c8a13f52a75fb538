"""apply_changes: remote statuses and comments mapped onto findings, acceptances and links,
with echo suppression, ordering and idempotency. No vendor call happens here: the changes
are what a vendor's parser would produce (apps/connectors/inbound/changes.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.connectors.inbound import echo
from apps.connectors.inbound.apply import apply_changes
from apps.connectors.inbound.changes import ChangeKind, RemoteChange
from apps.connectors.models import ExternalLink, Integration
from apps.findings.models import FindingComment, FindingStatus
from apps.policies.models import AcceptanceStatus, RiskAcceptance
from fixops.platform.models import AuditEvent
from tests.findings.factories import FindingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def apply(django_capture_on_commit_callbacks):
    """apply_changes, then what runs after commit (the acceptance request, in the pipeline)."""

    def run(integration, changes, source="webhook"):
        with django_capture_on_commit_callbacks(execute=True):
            return apply_changes(integration, changes, source=source)

    return run


def _integration(tenant, kind="jira", name="tracker", **settings) -> Integration:
    integration = Integration(
        tenant=tenant, kind=kind, name=name, base_url="https://jira.example.com", settings=settings
    )
    integration.credentials = {"email": "fixops-bot@example.com", "api_token": "x"}
    integration.save()
    return integration


def _linked(integration, status=FindingStatus.OPEN, remote_id="10001", key="SEC-1"):
    finding = FindingFactory(tenant=integration.tenant, status=status)
    link = ExternalLink.objects.create(
        tenant=integration.tenant,
        integration=integration,
        reference=f"fixops-f-{finding.pk}",
        finding=finding,
        remote_id=remote_id,
        remote_key=key,
        remote_status="To Do",
    )
    return finding, link


def status(
    remote_id="10001", *, name="Done", category="done", resolution="Done", actor="alice", at=None
) -> RemoteChange:
    return RemoteChange(
        kind=ChangeKind.STATUS,
        remote_id=remote_id,
        status=name,
        status_category=category,
        resolution=resolution,
        actor=actor,
        occurred_at=at,
    )


def test_closed_as_done_fixes_the_finding_once_audited(acme, apply):
    jira = _integration(acme)
    finding, link = _linked(jira)
    result = apply(jira, [status()], "webhook")
    assert (result.applied, result.effects()) == (1, {"fixed": 1})
    finding.refresh_from_db()
    assert finding.status == FindingStatus.FIXED
    assert finding.closed_at is not None
    audit = AuditEvent.objects.filter(action="finding.status", target_id=str(finding.pk)).get()
    assert audit.actor == "jira:alice"
    assert "SEC-1" in audit.after["reason"]
    link.refresh_from_db()
    assert link.remote_status == "Done"
    # The same change again (a replay, or reconciliation seeing it too) changes nothing.
    again = apply(jira, [status()], "reconcile")
    assert (again.applied, again.ignored) == (0, 1)
    assert AuditEvent.objects.filter(action="finding.status").count() == 1


def test_wont_do_asks_an_approver_and_leaves_the_finding(acme, apply):
    jira = _integration(acme, acceptance_days=30)
    finding, _ = _linked(jira, status=FindingStatus.TRIAGED)
    change = status(resolution="Won't Do")
    result = apply(jira, [change], "webhook")
    assert result.effects() == {"acceptance_requested": 1}
    finding.refresh_from_db()
    assert finding.status == FindingStatus.TRIAGED
    request = RiskAcceptance.objects.get(finding=finding)
    assert request.status == AcceptanceStatus.REQUESTED
    assert request.requested_label == "jira:alice"
    assert "won't do" in request.justification and "SEC-1" in request.justification
    days = (request.expires_at - timezone.now()).days
    assert 28 <= days <= 30
    # Asked once, however often the vendor repeats it.
    apply(jira, [status(resolution="Declined", at=None)], "reconcile")
    assert RiskAcceptance.objects.filter(finding=finding).count() == 1


def test_reopened_ticket_reopens_a_fixed_finding_not_an_accepted_one(acme, apply):
    jira = _integration(acme)
    fixed, _ = _linked(jira, status=FindingStatus.FIXED, remote_id="1", key="SEC-1")
    accepted, _ = _linked(jira, status=FindingStatus.RISK_ACCEPTED, remote_id="2", key="SEC-2")
    reopen = dict(name="To Do", category="new", resolution="")
    result = apply(jira, [status("1", **reopen), status("2", **reopen)], "webhook")
    assert result.effects() == {"reopened": 1, "finding is risk_accepted": 1}
    fixed.refresh_from_db()
    accepted.refresh_from_db()
    assert (fixed.status, accepted.status) == (FindingStatus.REOPENED, FindingStatus.RISK_ACCEPTED)


def test_in_progress_and_unknown_tickets_change_nothing(acme, apply):
    jira = _integration(acme)
    finding, _ = _linked(jira)
    moving = status(name="In Review", category="indeterminate", resolution="")
    result = apply(jira, [moving, status("99999")], "webhook")
    assert [o.effect for o in result.outcomes] == ["finding is open", "no link"]
    assert result.unmatched == 1
    finding.refresh_from_db()
    assert finding.status == FindingStatus.OPEN


def test_status_map_overrides_the_vendor_defaults(acme, apply):
    jira = _integration(acme, status_map={"Done|Duplicate": "ignore", "Closed": "wont_do"})
    dup, _ = _linked(jira, remote_id="1")
    closed, _ = _linked(jira, remote_id="2")
    changes = [
        status("1", resolution="Duplicate"),
        status("2", name="Closed", category="done", resolution="Fixed"),
    ]
    result = apply(jira, changes, "webhook")
    assert [o.effect for o in result.outcomes] == ["no mapping", "acceptance_requested"]


def test_vendor_defaults_github_servicenow_azure(acme, apply):
    github = _integration(acme, kind="github", name="gh")
    servicenow = _integration(acme, kind="servicenow", name="sn")
    ado = _integration(acme, kind="azure_devops", name="ado")
    f1, _ = _linked(github, remote_id="7")
    f2, _ = _linked(servicenow, remote_id="abc")
    f3, _ = _linked(ado, remote_id="42")
    gh = RemoteChange(ChangeKind.STATUS, "7", status="closed", resolution="not_planned")
    sn = RemoteChange(ChangeKind.STATUS, "abc", status="6")
    az = RemoteChange(ChangeKind.STATUS, "42", status="Done", status_category="Completed")
    assert apply(github, [gh], "webhook").effects() == {"acceptance_requested": 1}
    assert apply(servicenow, [sn], "webhook").effects() == {"fixed": 1}
    assert apply(ado, [az], "webhook").effects() == {"fixed": 1}


def test_echo_of_our_own_write_and_own_account_are_ignored(acme, apply):
    jira = _integration(acme, own_account=["557058:fixops"])
    finding, link = _linked(jira)
    # Our outbound close left "Done" (attempts.py records it as sent_status).
    ExternalLink.objects.filter(pk=link.pk).update(sent_status="Done")
    assert apply(jira, [status()], "webhook").effects() == {"echo": 1}
    by_bot = [status(actor="557058:fixops"), status(actor="FixOps-Bot@example.com")]
    assert apply(jira, by_bot, "webhook").effects() == {"own account": 2}
    finding.refresh_from_db()
    assert finding.status == FindingStatus.OPEN
    # A person moves it away and back: the return to "Done" is theirs, not our echo.
    away = status(name="In Progress", category="indeterminate", resolution="")
    apply(jira, [away, status()], "webhook")
    finding.refresh_from_db()
    assert finding.status == FindingStatus.FIXED


def test_older_status_does_not_undo_a_newer_one(acme, apply):
    jira = _integration(acme)
    finding, _ = _linked(jira)
    now = timezone.now()
    newer = status(at=now)
    older = status(name="To Do", category="new", resolution="", at=now - timedelta(minutes=5))
    result = apply(jira, [newer, older], "webhook")
    assert [o.effect for o in result.outcomes] == ["fixed", "stale"]
    finding.refresh_from_db()
    assert finding.status == FindingStatus.FIXED


def _comment(body, comment_id="c1", actor="bob", remote_id="10001"):
    return RemoteChange(
        ChangeKind.COMMENT, remote_id, comment_id=comment_id, comment_body=body, actor=actor
    )


def test_comments_mirror_only_when_opted_in_never_our_own(acme, apply):
    quiet = _integration(acme, name="quiet")
    _linked(quiet, remote_id="1")
    assert apply(quiet, [_comment("hi", remote_id="1")], "webhook").effects() == {
        "comments not mirrored": 1
    }
    jira = _integration(acme, inbound_comments="mirror")
    finding, link = _linked(jira)
    ours = "FixOps: open -> fixed by user:alice"
    ExternalLink.objects.filter(pk=link.pk).update(sent_comments=echo.marks(ours, "c9"))
    changes = [
        _comment("Patched in **1.2.3**", "c1"),
        _comment("Patched in **1.2.3**", "c1"),  # redelivered
        _comment("whatever the vendor rendered", "c9"),  # ours, by id
        _comment("*FixOps*: open -> fixed by user:alice", "c10"),  # ours, re-rendered
    ]
    result = apply(jira, changes, "webhook")
    assert [o.effect for o in result.outcomes] == [
        "comment_mirrored",
        "already mirrored",
        "echo",
        "echo",
    ]
    comment = FindingComment.objects.get(finding=finding)
    assert (comment.source, comment.external_id, comment.remote_author) == ("jira", "c1", "bob")
    assert comment.body == "Patched in **1.2.3**"


def test_deleted_ticket_is_recorded_on_the_link_and_audited(acme, apply):
    jira = _integration(acme)
    finding, link = _linked(jira)
    gone = RemoteChange(ChangeKind.DELETED, "10001")
    assert apply(jira, [gone, gone], "webhook").effects() == {
        "link_deleted": 1,
        "already deleted": 1,
    }
    link.refresh_from_db()
    assert link.remote_deleted_at is not None
    assert AuditEvent.objects.filter(action="link.remote_deleted").count() == 1
    finding.refresh_from_db()
    assert finding.status == FindingStatus.OPEN


def test_slack_actions_acknowledge_and_request_acceptance_within_the_tenant(acme, globex, apply):
    slack = _integration(acme, kind="slack", name="chat")
    mine = FindingFactory(tenant=acme)
    other = FindingFactory(tenant=globex)
    changes = [
        RemoteChange(ChangeKind.ACTION, "", action="acknowledge", value=f"fixops-f-{mine.pk}"),
        RemoteChange(ChangeKind.ACTION, "", action="acknowledge", value=f"fixops-f-{other.pk}"),
        RemoteChange(
            ChangeKind.ACTION, "", action="request_acceptance", value=f"fixops-f-{mine.pk}"
        ),
        RemoteChange(ChangeKind.ACTION, "", action="delete_everything", value="fixops-f-1"),
    ]
    result = apply(slack, changes, "webhook")
    assert [o.effect for o in result.outcomes] == [
        "triaged",
        "no finding",
        "acceptance_requested",
        "unknown action",
    ]
    other.refresh_from_db()
    assert other.status == FindingStatus.OPEN
