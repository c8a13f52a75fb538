"""What is sent: scans open / close / reopen tickets (per finding or grouped), triage moves
them, decisions post check runs and chat messages, notifications reach Slack; templates are
safe. Delivered to the fake vendors through the real drain."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.connectors import delivery, drain, templates
from apps.connectors.announce import decision_announce, notify
from apps.connectors.models import (
    ExternalLink,
    Integration,
    MessageKind,
    NotificationRule,
    OutboxMessage,
)
from apps.findings.models import Finding
from apps.findings.services import finding_transition
from apps.pipeline.ingest import scan_submit
from tests.findings.factories import ApplicationFactory, FindingFactory
from tests.findings.reports import Result, sarif, upload

pytestmark = pytest.mark.django_db


def _scan(app, results: list[Result]):
    scan, _ = scan_submit(
        tenant=app.tenant, application=app, upload=upload(sarif(results), "r.sarif"), branch="main"
    )
    return scan


def _results(n: int, rule: str = "python.lang.security.eval") -> list[Result]:
    prefix = "m" if rule == "python.lang.security.eval" else rule.rsplit(".", 1)[-1]
    return [Result(rule=rule, path=f"src/{prefix}{i}.py", line=i + 1) for i in range(n)]


def _slack(tenant, name: str = "alerts") -> Integration:
    integration = Integration(
        tenant=tenant, kind="slack", name=name, base_url="https://slack.example.com"
    )
    integration.credentials = {"bot_token": "xoxb-test"}
    integration.settings = {"channel": "C123"}
    integration.save()
    # What the migration gives every Slack integration that existed before rules.
    NotificationRule.objects.create(
        tenant=tenant,
        name=f"{name} notifications",
        integration=integration,
        events=["sla_breached", "decision_block", "decision_needs_review", "acceptance_expired"],
    )
    return integration


@pytest.fixture
def app(acme):
    return ApplicationFactory(tenant=acme, name="shop", repo_url="https://github.com/acme/app")


@pytest.fixture
def jira(acme, fake_jira, make_integration):
    return make_integration(acme, fake_jira, min_severity="high")


def test_a_scan_opens_tickets_then_closes_and_reopens_them(app, jira, fake_jira):
    _scan(app, _results(3))
    upserts = OutboxMessage.objects.filter(kind=MessageKind.UPSERT)
    assert upserts.count() == 3
    assert drain.drain(budget_seconds=20).delivered == 3
    findings = list(Finding.objects.order_by("id"))
    issue = fake_jira.with_reference(f"fixops-f-{findings[0].pk}")[0]
    assert "shop" in issue["fields"]["summary"] and "high" in issue["fields"]["summary"]
    # The next scan no longer reports two of them: their tickets close.
    _scan(app, _results(1))
    closing = OutboxMessage.objects.filter(kind=MessageKind.TRANSITION)
    assert sorted(m.payload["status"] for m in closing) == ["closed", "closed"]
    assert drain.drain(budget_seconds=20).delivered == 2
    statuses = {
        f.pk: fake_jira.with_reference(f"fixops-f-{f.pk}")[0]["fields"]["status"]["name"]
        for f in findings
    }
    assert sorted(statuses.values()) == ["Done", "Done", "To Do"]
    # Reported again: reopened, on the same tickets.
    _scan(app, _results(3))
    assert drain.drain(budget_seconds=20).delivered == 2
    assert len(fake_jira.state["issues"]) == 3
    assert {
        fake_jira.with_reference(f"fixops-f-{f.pk}")[0]["fields"]["status"]["name"]
        for f in findings
    } == {"To Do"}
    assert set(ExternalLink.objects.values_list("state", flat=True)) == {"open"}


def test_thresholds_decide_what_opens_a_ticket(app, acme, fake_jira, make_integration):
    make_integration(acme, fake_jira, min_severity="critical")
    _scan(app, _results(2))  # high findings
    assert not OutboxMessage.objects.exists()
    integration = Integration.objects.get()
    row = {"severity": "critical", "risk_score": 40.0}
    integration.min_risk = 50
    assert not delivery.meets_threshold(integration, row)
    assert delivery.meets_threshold(integration, {**row, "risk_score": 80.0})
    assert delivery.meets_threshold(integration, {**row, "risk_score": None})  # not scored yet


def test_the_scan_hook_is_bulk(app, jira):
    def connector_queries(application, n: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            _scan(application, _results(n))
        return sum(1 for q in queries.captured_queries if "connectors_" in q["sql"])

    small = connector_queries(app, 3)
    large = connector_queries(ApplicationFactory(tenant=app.tenant), 60)
    assert small == large and small <= 4
    assert OutboxMessage.objects.count() == 63
    # Closing and reopening add the look-up of existing tickets, whatever the count.
    assert connector_queries(app, 1) == connector_queries(app, 3) <= 8


def test_no_integration_costs_one_query(app):
    with CaptureQueriesContext(connection) as queries:
        _scan(app, _results(5))
    assert sum(1 for q in queries.captured_queries if "connectors_" in q["sql"]) == 1


def test_triage_closes_and_reopens_the_ticket(
    app, jira, fake_jira, django_capture_on_commit_callbacks
):
    _scan(app, _results(1))
    drain.drain(budget_seconds=20)
    finding = Finding.objects.get()
    reference = f"fixops-f-{finding.pk}"
    # A person's transition reaches the tickets after commit (a finding.changed event).
    with django_capture_on_commit_callbacks(execute=True):
        finding_transition(
            tenant=app.tenant, finding=finding, to_status="triaged", actor="user:alice"
        )
    assert not OutboxMessage.objects.filter(kind=MessageKind.TRANSITION).exists()  # still open
    with django_capture_on_commit_callbacks(execute=True):
        finding = finding_transition(
            tenant=app.tenant,
            finding=finding,
            to_status="false_positive",
            actor="user:alice",
            reason="test fixture",
        )
    message = OutboxMessage.objects.get(kind=MessageKind.TRANSITION)
    assert message.payload["status"] == "closed" and "user:alice" in message.payload["comment"]
    drain.drain(budget_seconds=20)
    [issue] = fake_jira.with_reference(reference)
    assert issue["fields"]["status"]["name"] == "Done"
    with django_capture_on_commit_callbacks(execute=True):
        finding_transition(tenant=app.tenant, finding=finding, to_status="open", actor="user:bob")
    drain.drain(budget_seconds=20)
    [issue] = fake_jira.with_reference(reference)
    assert issue["fields"]["status"]["name"] == "To Do"


def test_grouping_per_rule_keeps_one_ticket_for_the_group(app, acme, fake_jira, make_integration):
    make_integration(acme, fake_jira, grouping="rule")
    _scan(app, _results(3) + _results(1, rule="python.other.rule"))
    assert OutboxMessage.objects.count() == 2
    drain.drain(budget_seconds=20)
    assert len(fake_jira.state["issues"]) == 2
    reference = delivery.finding_reference(
        "rule", {"application_id": app.pk, "rule_id": "python.lang.security.eval"}
    )
    [issue] = fake_jira.with_reference(reference)
    assert "(3 findings)" in issue["fields"]["summary"]
    _scan(app, _results(2) + _results(1, rule="python.other.rule"))  # one of the three fixed
    drain.drain(budget_seconds=20)
    [issue] = fake_jira.with_reference(reference)
    assert "(2 findings)" in issue["fields"]["summary"]
    assert issue["fields"]["status"]["name"] == "To Do"
    _scan(app, _results(1, rule="python.other.rule"))  # the whole group is fixed
    drain.drain(budget_seconds=20)
    [issue] = fake_jira.with_reference(reference)
    assert issue["fields"]["status"]["name"] == "Done"
    assert len(fake_jira.state["issues"]) == 2


def _decision(app, outcome: str, *, commit: str = "a" * 40, finding_ids=()):
    # The shape apps.policies' Decision has (pk, tenant, application, outcome, ...).
    return SimpleNamespace(
        pk=4242,
        tenant_id=app.tenant_id,
        tenant=app.tenant,
        application=app,
        application_id=app.pk,
        outcome=outcome,
        confidence=0.87,
        reasons=[
            {
                "level": "deny",
                "rule": "no-critical",
                "message": "critical findings",
                "finding_ids": list(finding_ids),
            },
            {"level": "warn", "rule": "stale", "message": "old", "finding_ids": []},
        ],
        counts={"critical": len(finding_ids)},
        commit=commit,
        branch="main",
        pipeline_run="build-7",
        created_at=timezone.now(),
    )


def test_a_blocking_decision_posts_a_check_run_and_a_slack_message(
    app, acme, fake_github, make_integration
):
    github = make_integration(acme, fake_github)  # acme/app, the application's repository
    slack = _slack(acme)
    findings = [
        FindingFactory(tenant=acme, application=app, path=f"src/f{i}.py", line=i + 3)
        for i in range(60)
    ]
    decision = _decision(app, "BLOCK", finding_ids=[f.pk for f in findings] + [999_999_999])
    assert decision_announce(decision) == 2
    assert decision_announce(decision) == 0  # announced once
    slack_message = OutboxMessage.objects.get(integration=slack)
    assert slack_message.payload["ticket"]["title"] == "FixOps decision: BLOCK for shop"
    assert slack_message.reference == "fixops-d-4242"
    check = OutboxMessage.objects.get(integration=github)
    extra = check.payload["ticket"]["extra"]
    assert extra["conclusion"] == "failure" and extra["head_sha"] == "a" * 40
    assert len(extra["annotations"]) == 60
    assert extra["annotations"][0]["annotation_level"] == "failure"
    OutboxMessage.objects.filter(integration=slack).delete()
    assert drain.drain(budget_seconds=20).delivered == 1
    [run] = fake_github.with_reference("fixops-d-4242")
    assert run["conclusion"] == "failure" and len(run["_annotations"]) == 60


def test_allow_skips_slack_and_decisions_without_commit_skip_github(
    app, acme, fake_github, make_integration
):
    make_integration(acme, fake_github, settings={"repository": "acme/other"})  # other repo
    _slack(acme)
    assert decision_announce(_decision(app, "ALLOW")) == 0
    make_integration(acme, fake_github, name="shop-gh")
    assert decision_announce(_decision(app, "ALLOW")) == 1
    extra = OutboxMessage.objects.get().payload["ticket"]["extra"]
    assert extra["conclusion"] == "success" and extra["annotations"] == []
    OutboxMessage.objects.all().delete()
    assert decision_announce(_decision(app, "NEEDS_REVIEW", commit="")) == 1  # Slack only
    assert OutboxMessage.objects.get().integration.kind == "slack"


def test_notify_queues_one_message_per_slack_rule(acme, globex):
    _slack(acme, "a")
    _slack(acme, "b")
    _slack(globex, "theirs")
    kwargs = {
        "event": "acceptance_expired",
        "cause": "acceptance-1",
        "title": "CVE-2024-1 is in KEV",
        "body": "3 findings",
        "reference": "kev-CVE-2024-1",
    }
    assert notify(acme, severity="critical", **kwargs) == 2
    assert notify(acme, **kwargs) == 0
    ticket = OutboxMessage.objects.filter(tenant=acme).first().payload["ticket"]
    assert ticket["severity"] == "critical" and ticket["title"] == "CVE-2024-1 is in KEV"


def test_templates_are_validated_and_never_evaluated():
    assert templates.validate({"title": "$severity $title", "body": "${message} $$5"}) == {}
    errors = templates.validate(
        {"title": "$settings", "body": "${", "nope": "x", "decision_title": 5}
    )
    assert set(errors) == {
        "templates.title",
        "templates.body",
        "templates.nope",
        "templates.decision_title",
    }
    assert "settings" in errors["templates.title"]
    assert templates.validate("x") == {"templates": "must be an object of template name -> text"}
    assert "longer" in templates.validate({"title": "x" * 6000})["templates.title"]
    rendered = templates.render(
        {"title": "[$severity] $title"},
        "title",
        {"severity": "high", "title": "${severity} {{ 7*7 }} $__class__"},
    )
    assert rendered == "[high] ${severity} {{ 7*7 }} $__class__"
    assert templates.render({"title": "$bogus"}, "title", {"title": "t", "severity": "low"}) == (
        "[FixOps] low: t (-)"
    )
    assert templates.render({}, "body", {"kev": True, "epss": 0.91234})
    assert len(templates.render({"title": "$title"}, "title", {"title": "x" * 900})) == 250


def test_custom_templates_shape_the_ticket(app, acme, fake_jira, make_integration):
    make_integration(
        acme, fake_jira, templates={"title": "SEC: $rule_id in $application", "body": "$location"}
    )
    _scan(app, _results(1))
    ticket = OutboxMessage.objects.get().payload["ticket"]
    assert ticket["title"] == "SEC: python.lang.security.eval in shop"
    assert ticket["body"] == "src/m0.py:1"
