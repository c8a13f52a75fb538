"""Retention: each tenant's policy purges old operational data in batches, audits what went,
leaves everything recent or unfinished, and never touches the audit log or evidence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from apps.connectors.models import OutboxAttempt, OutboxMessage
from apps.connectors.services import integration_create
from apps.evidence.checkpoints import audit_chain_verify
from apps.findings.models import Occurrence, Scan
from apps.intel.models import IntelEvent
from apps.pipeline.retention import retention_apply
from apps.tenants.models import RetentionPolicy
from apps.tenants.retention import retention_update
from fixops.platform.errors import Invalid
from fixops.platform.models import AuditEvent
from tests.connectors.factories import enqueue_tickets
from tests.fakes.jira import FakeJira
from tests.findings.factories import ApplicationFactory, FindingFactory, ScanFactory

pytestmark = pytest.mark.django_db
NOW = timezone.now()
OLD, RECENT = NOW - timedelta(days=400), NOW - timedelta(days=5)


def occurrence(finding, tool, *, live: bool = False):
    """An occurrence of `finding`, retracted when the finding was closed (by the scan that
    closed it) unless `live` (closed by a person while a stream still reports it)."""
    return Occurrence.objects.create(
        tenant_id=finding.tenant_id, application_id=finding.application_id, finding=finding,
        tool=tool, rule_id=finding.rule_id, retracted_at=None if live else finding.closed_at,
    )  # fmt: skip


def attempts(tenant, n: int, status: str, started) -> list[int]:
    with FakeJira() as jira:
        config = jira.config()
    integration = integration_create(
        tenant=tenant, kind="jira", name=f"jira-{status}-{started:%Y%m%d}",
        base_url=config["base_url"], credentials=config["credentials"],
        settings=config["settings"],
    )  # fmt: skip
    enqueue_tickets(integration, n)
    ids = []
    for message in OutboxMessage.objects.filter(integration=integration):
        message.status = status
        message.save(update_fields=["status"])
        ids.append(
            OutboxAttempt.objects.create(
                message=message, number=1, started_at=started, outcome="ok"
            ).pk
        )
    return ids


@pytest.fixture
def seeded(acme, globex):
    data = {}
    for tenant in (acme, globex):
        app = ApplicationFactory(tenant=tenant, name="shop")
        old_scan = ScanFactory(tenant=tenant, application=app, skipped=[{"pointer": "/x"}])
        Scan.objects.filter(pk=old_scan.pk).update(created_at=OLD)
        new_scan = ScanFactory(tenant=tenant, application=app, skipped=[{"pointer": "/y"}])
        long_closed = FindingFactory(
            tenant=tenant, application=app, status="verified", closed_at=OLD
        )
        just_closed = FindingFactory(
            tenant=tenant, application=app, status="fixed", closed_at=RECENT
        )
        old_open = FindingFactory(tenant=tenant, application=app, status="open", first_seen=OLD)
        data[tenant.slug] = {
            "old_scan": old_scan.pk,
            "new_scan": new_scan.pk,
            "purged_occurrences": [occurrence(long_closed, t).pk for t in ("semgrep", "trivy")],
            "kept_occurrences": [
                occurrence(just_closed, "semgrep").pk,
                occurrence(old_open, "semgrep").pk,
                # Still reported: a repeat of its stream's scan reopens the finding by it.
                occurrence(long_closed, "gitleaks", live=True).pk,
            ],
            "old_delivered": attempts(tenant, 3, "delivered", OLD),
            "old_pending": attempts(tenant, 1, "pending", OLD),
            "new_delivered": attempts(tenant, 1, "delivered", RECENT),
        }
        for created in (OLD, OLD, RECENT):
            IntelEvent.objects.create(
                tenant=tenant, kind="kev_added", vuln_id="CVE-2021-44228", created_at=created
            )
    acme_policy = {"scan_details_days": 30, "closed_occurrences_days": 180}
    acme_policy |= {"outbox_attempts_days": 30, "intel_events_days": 180}
    retention_update(tenant=acme, actor="user:ops", **acme_policy)
    forever = dict.fromkeys(acme_policy, 0)
    retention_update(tenant=globex, actor="user:ops", **forever)
    Session.objects.create(
        session_key="expired", session_data="x", expire_date=NOW - timedelta(days=1)
    )
    Session.objects.create(
        session_key="live", session_data="x", expire_date=NOW + timedelta(days=1)
    )
    return data


def test_retention_purges_what_is_old_and_finished_only(seeded, acme, globex):
    audit_before = AuditEvent.objects.count()
    report = retention_apply(now=NOW, batch=2)  # small batches: several rounds each
    acme_data = seeded["acme"]
    assert report["acme"] == {
        "scan_details_days": 1,
        "closed_occurrences_days": 2,
        "outbox_attempts_days": 3,
        "intel_events_days": 2,
        "inbox_deliveries_days": 0,  # no deliveries (tests/connectors/inbound/test_retention)
    }
    assert Scan.objects.get(pk=acme_data["old_scan"]).skipped == []
    assert (
        Scan.objects.get(pk=acme_data["old_scan"]).counts
        == Scan.objects.get(pk=acme_data["old_scan"]).counts
    )
    assert Scan.objects.get(pk=acme_data["new_scan"]).skipped == [{"pointer": "/y"}]
    assert not Occurrence.objects.filter(pk__in=acme_data["purged_occurrences"]).exists()
    assert Occurrence.objects.filter(pk__in=acme_data["kept_occurrences"]).count() == 3
    remaining = set(OutboxAttempt.objects.filter(message__tenant=acme).values_list("pk", flat=True))
    assert remaining == set(acme_data["old_pending"] + acme_data["new_delivered"])
    assert IntelEvent.objects.filter(tenant=acme).count() == 1
    # A tenant that keeps everything (0 days) loses nothing.
    assert "globex" not in report
    assert Scan.objects.get(pk=seeded["globex"]["old_scan"]).skipped == [{"pointer": "/x"}]
    assert IntelEvent.objects.filter(tenant=globex).count() == 3
    assert OutboxAttempt.objects.filter(message__tenant=globex).count() == 5
    # Sessions are global: the expired one goes.
    assert report["_sessions"] == {"expired_sessions": 1}
    assert list(Session.objects.values_list("session_key", flat=True)) == ["live"]
    # The audit log only grows (one row for acme's purge) and still verifies.
    assert AuditEvent.objects.count() == audit_before + 1
    purge = AuditEvent.objects.filter(action="retention.purge").get()
    assert purge.tenant_id == acme.pk and purge.after["purged"] == report["acme"]
    assert audit_chain_verify(tenant_id=acme.pk).ok
    # Twice is the same as once.
    assert retention_apply(now=NOW) == {}
    assert AuditEvent.objects.count() == audit_before + 1


def test_retention_defaults_and_bounds(acme):
    policy = RetentionPolicy.objects.filter(tenant=acme).first()
    assert policy is None  # the defaults apply without a row
    with pytest.raises(Invalid) as refused:
        retention_update(tenant=acme, actor="user:ops", intel_events_days=-1)
    assert refused.value.code == "invalid_retention"
    with pytest.raises(Invalid):
        retention_update(tenant=acme, actor="user:ops", audit_days=1)
    saved = retention_update(tenant=acme, actor="user:ops", intel_events_days=0)
    assert (saved.intel_events_days, saved.scan_details_days) == (0, 90)
    row = AuditEvent.objects.get(action="retention.update")
    assert row.before["intel_events_days"] == 180 and row.after["intel_events_days"] == 0
