"""Notification rules: every event kind reaches each matching rule's channel exactly once (a
second dispatch of the same cause queues nothing), minimum severity filters, disabled rules and
integrations are ignored, another tenant's rules never fire, and the migrated Slack rule keeps
what Slack received before. Events come from the real emitters (intel batch, SLA announcer,
gate announcer, acceptance expiry) through the platform events and apps/pipeline/reactions."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.utils import timezone

from apps.connectors import delivery
from apps.connectors.announce import decision_announce
from apps.connectors.models import Integration, NotificationRule, OutboxMessage
from apps.findings.sla import sla_breaches_announce
from apps.intel.models import IntelEvent
from apps.intel.notices import intel_recorded_emit
from apps.policies.acceptances import ACCEPTANCE_EXPIRED
from fixops.platform import events
from fixops.platform.models import Event
from tests.findings.factories import ApplicationFactory, FindingFactory

pytestmark = pytest.mark.django_db

ALL_EVENTS = [
    "kev_added",
    "epss_crossed",
    "sla_breached",
    "decision_block",
    "decision_needs_review",
    "acceptance_expired",
]


def _channel(tenant, kind: str, name: str = "", **fields) -> Integration:
    configs = {
        "teams": ({"webhook_url": "https://prod-1.example.logic.azure.com/x?sig=s"}, {}),
        "webhook": ({"signing_secret": "whsec_" + "A" * 44}, {}),
        "email": ({}, {"recipients": ["sec@example.com"]}),
        "slack": ({"bot_token": "xoxb-t"}, {"channel": "C1"}),
    }
    credentials, settings = configs[kind]
    integration = Integration(
        tenant=tenant,
        kind=kind,
        name=name or f"{kind}-channel",
        base_url="https://channel.example.com",
        settings=settings,
        **fields,
    )
    integration.credentials = credentials
    integration.save()
    return integration


def _rule(tenant, integration, events_=None, **fields) -> NotificationRule:
    return NotificationRule.objects.create(
        tenant=tenant,
        name=fields.pop("name", f"rule-{integration.name}"),
        integration=integration,
        events=events_ or ALL_EVENTS,
        **fields,
    )


def _pending_events() -> list[Event]:
    return list(Event.objects.filter(handled_at__isnull=True).order_by("pk"))


def _dispatch() -> list[Event]:
    """Handle the pending platform events now (the after-commit dispatch of production)."""
    pending = _pending_events()
    for event in pending:
        assert events.handle(event), event.last_error
    return pending


def _redispatch(handled: list[Event]) -> None:
    """The sweeper handling the same events again (a crash after the outbox insert)."""
    for event in handled:
        Event.objects.filter(pk=event.pk).update(handled_at=None)
        event.refresh_from_db()
        assert events.handle(event)


def _intel(tenant, kind: str, findings, cve: str = "CVE-2026-0001", **details):
    now = timezone.now()
    with transaction.atomic():
        for finding in findings:
            IntelEvent.objects.create(
                tenant=tenant,
                kind=kind,
                vuln_id=cve,
                finding_id=finding.pk,
                details={"direction": "up", "from": 0.05, "to": 0.4, "threshold": 0.1, **details},
                created_at=now,
            )
        intel_recorded_emit(kind=kind, tenant_ids=[tenant.pk], now=now)
    return _dispatch()


def _decision(app, outcome: str):
    return SimpleNamespace(
        pk=7100 + len(outcome),
        tenant_id=app.tenant_id,
        tenant=app.tenant,
        application=app,
        application_id=app.pk,
        outcome=outcome,
        confidence=0.9,
        reasons=[{"level": "deny", "rule": "no-critical", "message": "critical findings"}],
        counts={"critical": 1},
        commit="",
        branch="main",
        pipeline_run="build-1",
        created_at=timezone.now(),
    )


def _trigger(kind: str, tenant, *, severity: str = "critical"):
    """Cause one event of `kind` for `tenant`; returns a callable that causes it again."""
    app = ApplicationFactory(tenant=tenant, name=f"app-{kind}")
    if kind in ("kev_added", "epss_crossed"):
        finding = FindingFactory(
            tenant=tenant, application=app, severity=severity, vuln_id="CVE-2026-0001"
        )
        handled = _intel(tenant, kind, [finding])
        return lambda: _redispatch(handled)
    if kind == "sla_breached":
        FindingFactory(
            tenant=tenant,
            application=app,
            severity=severity,
            due_at=timezone.now() - timedelta(days=1),
        )
        with transaction.atomic():
            assert sla_breaches_announce() == 1
        handled = _dispatch()
        return lambda: _redispatch(handled)
    if kind.startswith("decision_"):
        decision = _decision(app, "BLOCK" if kind == "decision_block" else "NEEDS_REVIEW")
        decision_announce(decision)
        return lambda: decision_announce(decision)
    with transaction.atomic():
        events.emit(
            topic=ACCEPTANCE_EXPIRED,
            tenant_id=tenant.pk,
            payload={
                "acceptance_id": 31,
                "title": "Risk acceptance 31 (CVE-2026-0001) expired",
                "body": "1 finding(s) reopened.",
                "severity": "medium",
                "reference": "fixops-acceptance-31",
            },
        )
    handled = _dispatch()
    return lambda: _redispatch(handled)


@pytest.mark.parametrize("kind", ALL_EVENTS)
def test_each_event_reaches_each_rule_once(kind, acme):
    channels = [_channel(acme, k) for k in ("teams", "webhook", "email", "slack")]
    rules = [_rule(acme, c) for c in channels]
    again = _trigger(kind, acme)
    messages = list(OutboxMessage.objects.filter(tenant=acme).order_by("integration_id"))
    assert [m.integration_id for m in messages] == [c.pk for c in channels]
    for message, rule in zip(messages, rules, strict=True):
        assert message.payload["event"] == kind and message.payload["rule_id"] == rule.pk
        assert f":rule{rule.pk}:{kind}:" in message.idempotency_key
        ticket = message.payload["ticket"]
        assert ticket["extra"]["event"] == kind and ticket["extra"]["message_id"].startswith("msg_")
    again()  # the same cause dispatched again
    assert OutboxMessage.objects.filter(tenant=acme).count() == len(channels)


def test_a_rule_only_gets_the_events_it_names(acme):
    teams = _channel(acme, "teams")
    _rule(acme, teams, ["sla_breached"])
    _trigger("kev_added", acme)
    _trigger("acceptance_expired", acme)
    assert not OutboxMessage.objects.exists()
    _trigger("sla_breached", acme)
    assert OutboxMessage.objects.get().payload["event"] == "sla_breached"


def test_min_severity_filters(acme):
    _rule(acme, _channel(acme, "webhook"), ["kev_added"], min_severity="high")
    _trigger("kev_added", acme, severity="medium")
    assert not OutboxMessage.objects.exists()
    app = ApplicationFactory(tenant=acme)
    findings = [
        FindingFactory(tenant=acme, application=app, severity=s, vuln_id="CVE-2026-0002")
        for s in ("low", "critical")
    ]
    _intel(acme, "kev_added", findings, cve="CVE-2026-0002")
    message = OutboxMessage.objects.get()
    assert message.payload["ticket"]["severity"] == "critical"  # the worst finding's
    assert message.payload["ticket"]["extra"]["data"]["finding_ids"] == [
        findings[1].pk,
        findings[0].pk,
    ]


def test_disabled_rules_and_integrations_are_ignored(acme):
    _rule(acme, _channel(acme, "teams"), enabled=False)
    _rule(acme, _channel(acme, "email", enabled=False))
    _trigger("acceptance_expired", acme)
    assert not OutboxMessage.objects.exists()


def test_two_rules_to_one_channel_send_once(acme):
    teams = _channel(acme, "teams")
    _rule(acme, teams, name="first")
    _rule(acme, teams, name="second")
    _trigger("decision_block", acme)
    assert OutboxMessage.objects.count() == 1


def test_another_tenants_rules_never_fire(acme, globex):
    _rule(globex, _channel(globex, "teams"))
    for kind in ALL_EVENTS:
        _trigger(kind, acme)
    assert not OutboxMessage.objects.exists()
    _trigger("kev_added", globex)
    assert set(OutboxMessage.objects.values_list("tenant_id", flat=True)) == {globex.pk}


def test_only_upward_epss_crossings_of_open_findings_are_announced(acme):
    _rule(acme, _channel(acme, "teams"), ["epss_crossed", "kev_added"])
    app = ApplicationFactory(tenant=acme)
    down = FindingFactory(tenant=acme, application=app, vuln_id="CVE-2026-0003")
    _intel(acme, "epss_crossed", [down], cve="CVE-2026-0003", direction="down")
    closed = FindingFactory(tenant=acme, application=app, vuln_id="CVE-2026-0004", status="fixed")
    _intel(acme, "kev_added", [closed], cve="CVE-2026-0004")
    assert not OutboxMessage.objects.exists()


def test_kev_notice_names_the_upgrade_that_fixes_it(acme):
    _rule(acme, _channel(acme, "webhook"), ["kev_added"])
    app = ApplicationFactory(tenant=acme, name="shop")
    finding = FindingFactory(
        tenant=acme,
        application=app,
        kind="sca",
        severity="critical",
        vuln_id="CVE-2026-0005",
        component_name="requests",
        component_purl="pkg:pypi/requests@2.0.0",
        component_version="2.0.0",
        fixed_versions=["2.31.0", "3.0.0"],
    )
    _intel(acme, "kev_added", [finding], cve="CVE-2026-0005", required_action="Patch it")
    ticket = OutboxMessage.objects.get().payload["ticket"]
    assert ticket["title"] == "CVE-2026-0005 is now in CISA KEV: 1 open finding(s)"
    assert "upgrade requests to 2.31.0" in ticket["body"]
    assert "Required action: Patch it" in ticket["body"]


def test_ticket_bodies_carry_fixed_versions_and_upgrade_advice(acme):
    jira = Integration(tenant=acme, kind="jira", name="j", base_url="https://j.example.com")
    finding = FindingFactory(
        tenant=acme,
        kind="sca",
        component_name="lodash",
        component_purl="pkg:npm/lodash@4.17.10",
        component_version="4.17.10",
        fixed_versions=["4.17.21", "4.17.12"],
    )
    rows = delivery.finding_rows([finding.pk])
    ticket = delivery.finding_ticket(jira, "fixops-f-1", [rows[finding.pk]])
    assert "Fixed in: 4.17.21, 4.17.12    Advice: upgrade lodash to 4.17.12" in ticket.body
    plain = FindingFactory(tenant=acme)
    rows = delivery.finding_rows([plain.pk])
    body = delivery.finding_ticket(jira, "fixops-f-2", [rows[plain.pk]]).body
    assert "Fixed in: -    Advice: -" in body


def test_migration_gives_existing_slack_integrations_their_previous_events(acme):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("apps.connectors.migrations.0004_notification_rules")
    slack = _channel(acme, "slack", name="alerts")
    _channel(acme, "teams")
    migration.slack_rules(apps, None)
    migration.slack_rules(apps, None)  # re-running adds nothing
    [rule] = NotificationRule.objects.all()
    assert rule.integration == slack and rule.min_severity == "info"
    assert rule.events == migration.PREVIOUS_SLACK_EVENTS


def test_the_kev_feed_itself_announces_a_new_cve_to_the_rules(acme, globex):
    """End to end from the real feed refresh: baseline catalog, then one with a new CVE."""
    from apps.intel.services import feed_refresh
    from tests.intel.feedkit import FeedServer
    from tests.intel.test_kev import NEW_CVE, catalog, serve, without

    _rule(acme, _channel(acme, "teams"), ["kev_added"])
    _rule(globex, _channel(globex, "teams"), ["kev_added"])
    finding = FindingFactory(tenant=acme, vuln_id=NEW_CVE, severity="high")
    with FeedServer() as server:
        feed_refresh(name="kev", url=serve(server, without(catalog(), NEW_CVE), "/yesterday"))
        _dispatch()
        assert not OutboxMessage.objects.exists()  # the first catalog is the baseline
        feed_refresh(name="kev", url=serve(server, catalog(catalogVersion="2025.08.26")))
    _dispatch()
    message = OutboxMessage.objects.get()  # acme's only: globex has no finding on it
    ticket = message.payload["ticket"]
    assert ticket["title"] == f"{NEW_CVE} is now in CISA KEV: 1 open finding(s)"
    assert f"#{finding.pk} high" in ticket["body"] and "Git" in ticket["body"]
    assert ticket["extra"]["data"]["finding_ids"] == [finding.pk]


def test_the_epss_feed_itself_announces_an_upward_crossing_only(acme):
    """End to end from the real feed refresh: one CVE rises above the threshold, one falls."""
    from apps.intel.services import feed_refresh
    from tests.intel.feedkit import FeedServer
    from tests.intel.test_epss import serve

    _rule(acme, _channel(acme, "webhook"), ["epss_crossed"])
    rising = FindingFactory(tenant=acme, vuln_id="CVE-2023-4863", severity="medium")
    FindingFactory(tenant=acme, vuln_id="CVE-2024-3094")  # falls below: stored, not sent
    with FeedServer() as server:
        feed_refresh(name="epss", url=serve(server))  # the baseline
        rows = [("CVE-2023-4863", "0.20000", "0.97"), ("CVE-2024-3094", "0.09000", "0.9")]
        comment = "#model_version:v2025.03.14,score_date:2026-04-11"
        feed_refresh(name="epss", url=serve(server, rows, path="/next.csv.gz", comment=comment))
    _dispatch()
    assert IntelEvent.objects.filter(kind="epss_crossed").count() == 2
    ticket = OutboxMessage.objects.get().payload["ticket"]
    assert ticket["title"] == "CVE-2023-4863: EPSS rose above 0.1: 1 open finding(s)"
    assert ticket["severity"] == "medium" and f"#{rising.pk} medium" in ticket["body"]


def test_an_intel_batch_costs_the_same_queries_whatever_its_size(acme):
    """One notice per CVE from two bulk reads: a KEV addition on many findings does not turn
    into a query (or a message) per finding."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _rule(acme, _channel(acme, "teams"), ["kev_added"])
    app = ApplicationFactory(tenant=acme)
    counts = []
    for n, cve in ((3, "CVE-2026-0010"), (60, "CVE-2026-0011")):
        findings = [
            FindingFactory(tenant=acme, application=app, vuln_id=cve, severity="high")
            for _ in range(n)
        ]
        with CaptureQueriesContext(connection) as queries:
            _intel(acme, "kev_added", findings, cve=cve)
        counts.append(len(queries) - n)  # minus the test's own IntelEvent inserts
    assert counts[0] == counts[1]
    assert OutboxMessage.objects.count() == 2
    assert (
        "... and 40 more" in OutboxMessage.objects.order_by("pk").last().payload["ticket"]["body"]
    )
