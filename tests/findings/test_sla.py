"""SLA: due_at per severity with KEV/SSVC overrides, kept current by the findings writer
(insert, re-score, severity, policy change), paused while a risk acceptance holds and restarted
or resumed after; breaches announced once per (finding, due_at)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.findings import sla
from apps.findings.models import Finding, SlaPolicy
from apps.findings.writer import FindingWriter
from fixops.platform.models import AuditEvent, Event
from tests.findings.factories import ApplicationFactory, FindingFactory
from tests.findings.test_writer import _upsert

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.fixture
def policy(acme):
    return SlaPolicy.objects.create(
        tenant=acme,
        days={"critical": 7, "high": 30, "medium": 90, "low": 180},
        kev_days=14,
        ssvc_days={"Act": 3, "Attend": 20},
    )


def _risk(writer, finding, *, kev=False, ssvc=""):
    row = (finding.pk, 50.0, {}, ssvc, 0.1, kev, writer.now)
    writer.risk([row], tenant_of={finding.pk: finding.tenant_id})
    finding.refresh_from_db()
    return finding


def test_deadline_is_the_strictest_of_severity_kev_and_ssvc(policy):
    days = sla.deadline_days
    assert days(policy, severity="high", kev=False, ssvc="") == 30
    assert days(policy, severity="high", kev=True, ssvc="") == 14
    assert days(policy, severity="critical", kev=True, ssvc="") == 7  # KEV never adds time
    assert days(policy, severity="high", kev=True, ssvc="Act") == 3
    assert days(policy, severity="low", kev=False, ssvc="Attend") == 20
    assert days(policy, severity="low", kev=False, ssvc="Track") == 180
    assert days(policy, severity="info", kev=False, ssvc="") is None  # no deadline


def test_writer_stores_due_at_on_insert_and_after_rescoring(acme, policy):
    app = ApplicationFactory(tenant=acme)
    writer = FindingWriter(cause="scan1", actor="scan:1")
    [pk] = _upsert(writer, app, "a").values()
    finding = Finding.objects.get(pk=pk)
    assert finding.due_at == writer.now + 30 * DAY  # high, no intel yet
    start = finding.first_seen
    assert _risk(writer, finding, kev=True).due_at == start + 14 * DAY
    assert _risk(writer, finding, kev=True, ssvc="Act").due_at == start + 3 * DAY
    assert _risk(writer, finding, ssvc="Attend").due_at == start + 20 * DAY
    assert _risk(writer, finding).due_at == start + 30 * DAY  # KEV and SSVC gone


def test_severity_change_moves_due_at(acme, policy):
    finding = FindingFactory(tenant=acme, severity="high")
    writer = FindingWriter(cause="edit", actor="user:alice")
    writer.reclassify([(finding.pk, "critical")], tenant_id=acme.pk)
    finding.refresh_from_db()
    assert (finding.severity, finding.due_at) == ("critical", finding.first_seen + 7 * DAY)


def test_policy_change_recomputes_every_finding_and_is_audited(acme, globex, policy):
    mine = FindingFactory(tenant=acme, severity="medium", kev=True)
    theirs = FindingFactory(tenant=globex, severity="medium")
    before_theirs = theirs.due_at
    sla.sla_policy_update(tenant=acme, actor="user:alice", days={"medium": 45}, kev_days=None)
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.due_at == mine.first_seen + 45 * DAY
    assert theirs.due_at == before_theirs  # another tenant's policy is untouched
    row = AuditEvent.objects.get(action="sla.policy_update")
    assert row.before["days"]["medium"] == 90 and row.after["days"] == {"medium": 45}
    with pytest.raises(Exception, match="whole days"):
        sla.sla_policy_update(tenant=acme, actor="user:alice", days={"urgent": 1})


def _set(finding, status, now):
    writer = FindingWriter(cause="t", actor="user:alice", now=now)
    writer.set_status(
        [(finding.pk, finding.status)], status, reason="t", tenant_id=finding.tenant_id
    )
    finding.refresh_from_db()
    return finding


def test_acceptance_pauses_then_restarts_the_clock_in_full(acme, policy):
    t0 = timezone.now() - 20 * DAY
    finding = FindingFactory(tenant=acme, severity="high", first_seen=t0)  # due t0 + 30
    accepted = _set(finding, "risk_accepted", t0 + 10 * DAY)
    assert accepted.sla_paused_at == t0 + 10 * DAY
    states = sla.with_state(Finding.objects.filter(pk=finding.pk), tenant_id=acme.pk)
    assert states.get().sla_state == "paused"
    back = _set(accepted, "open", t0 + 15 * DAY)
    assert (back.sla_started_at, back.sla_paused_at) == (t0 + 15 * DAY, None)
    assert back.due_at == t0 + 45 * DAY


def test_acceptance_pause_resumes_with_the_time_left(acme, policy):
    policy.restart_on_expiry = False
    policy.save()
    t0 = timezone.now() - 20 * DAY
    finding = FindingFactory(tenant=acme, severity="high", first_seen=t0)  # 30 days
    accepted = _set(finding, "risk_accepted", t0 + 10 * DAY)  # 20 days left
    back = _set(accepted, "open", t0 + 15 * DAY)  # paused 5 days
    assert back.sla_started_at == t0 + 5 * DAY
    assert back.due_at == t0 + 35 * DAY  # 20 days after the resume


def test_states_follow_due_at(acme, policy):
    now = timezone.now()
    rows = {
        "overdue": FindingFactory(tenant=acme, due_at=now - DAY),
        "due_soon": FindingFactory(tenant=acme, due_at=now + 2 * DAY),
        "on_time": FindingFactory(tenant=acme, due_at=now + 10 * DAY),
        "paused": FindingFactory(tenant=acme, due_at=now - DAY, status="risk_accepted"),
        "": FindingFactory(tenant=acme, due_at=now - DAY, status="fixed"),
    }
    annotated = sla.with_state(Finding.objects.filter(tenant=acme), tenant_id=acme.pk, now=now)
    got = dict(annotated.values_list("pk", "sla_state"))
    assert {state: got[f.pk] for state, f in rows.items()} == {s: s for s in rows}
    summary = sla.compliance(Finding.objects.filter(tenant=acme), tenant_id=acme.pk, now=now)
    assert summary["by_state"] == {"on_time": 1, "due_soon": 1, "overdue": 1, "paused": 1}
    assert (summary["open"], summary["on_time_percent"]) == (4, 66.7)


def test_a_breach_is_announced_once_per_due_at(acme, globex, policy):
    now = timezone.now()
    late = FindingFactory(tenant=acme, severity="critical", first_seen=now - 10 * DAY)
    FindingFactory(tenant=acme, severity="critical")  # on time
    FindingFactory(tenant=acme, severity="critical", first_seen=now - 10 * DAY, status="fixed")
    FindingFactory(
        tenant=acme, severity="critical", first_seen=now - 10 * DAY, status="risk_accepted"
    )
    assert sla.sla_breaches_announce(now=now) == 1
    assert sla.sla_breaches_announce(now=now) == 0  # the beat running twice: once
    [event] = Event.objects.filter(topic=sla.SLA_BREACHED)
    assert event.tenant_id == acme.pk and event.payload["finding_ids"] == [late.pk]
    assert "breached" in event.payload["title"] and f"#{late.pk} critical" in event.payload["body"]
    assert AuditEvent.objects.filter(action="finding.sla_breach").count() == 1
    # A new deadline (the policy moved it) that passes again is a new breach.
    sla.sla_policy_update(tenant=acme, actor="user:alice", days={"critical": 8})
    assert sla.sla_breaches_announce(now=now) == 1
    assert Event.objects.filter(topic=sla.SLA_BREACHED).count() == 2


def test_the_test_factory_stores_what_the_sql_rule_stores(acme, policy):
    """tests/findings/factories.py computes due_at in Python; sla.recompute is the rule."""
    made = {
        FindingFactory(tenant=acme, severity=severity, kev=kev, ssvc=ssvc, **start).pk: None
        for severity in ("critical", "high", "medium", "low", "info")
        for kev in (False, True)
        for ssvc in ("", "Act", "Attend", "Track")
        for start in ({}, {"sla_started_at": timezone.now() - 9 * DAY})
    }
    made.update(Finding.objects.filter(pk__in=made).values_list("pk", "due_at"))
    sla.recompute(policy=policy, ids=list(made))
    recomputed = dict(Finding.objects.filter(pk__in=made).values_list("pk", "due_at"))
    assert recomputed == made
    # info with no KEV and no SSVC override ("" or Track) has no deadline, from either start
    assert sum(due is None for due in made.values()) == 4
