"""The audit chain: append-only rows, concurrency, and detection of edited, inserted, deleted
and truncated rows (the last through signed checkpoints)."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections

from apps.evidence.checkpoints import audit_chain_verify, audit_checkpoint
from apps.evidence.models import AuditCheckpoint
from apps.evidence.tasks import audit_checkpoint_task
from fixops.platform.audit import GENESIS, audit_record, audit_record_many, event_hash
from fixops.platform.models import AuditChainHead, AuditEvent
from fixops.platform.request_id import _current
from tests.tenants.factories import TenantFactory


def _record(tenant, n: int, start: int = 0):
    return [
        audit_record(
            tenant=tenant,
            actor="user:alice",
            action="finding.transition",
            target_type="finding",
            target_id=start + i,
            before={"status": "open"},
            after={"status": "fixed", "on": date(2026, 1, 2)},
        )
        for i in range(n)
    ]


@pytest.mark.django_db
def test_chain_links_every_row(acme, globex):
    token = _current.set("req-123")
    try:
        events = _record(acme, 3)
    finally:
        _current.reset(token)
    _record(globex, 2)
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS
    assert events[1].prev_hash == events[0].hash == event_hash(events[0])
    assert events[0].request_id == "req-123"
    stored = AuditEvent.objects.get(pk=events[0].pk)
    assert stored.after == {"status": "fixed", "on": "2026-01-02"}
    assert event_hash(stored) == stored.hash
    assert audit_chain_verify(tenant_id=acme.pk).ok
    assert audit_chain_verify(tenant_id=globex.pk).events == 2
    with pytest.raises(ValueError, match="append-only"):
        stored.save()
    with pytest.raises(ValueError, match="append-only"):
        stored.delete()


@pytest.mark.django_db
def test_bulk_and_global_chains(acme):
    events = audit_record_many(
        tenant=acme,
        actor="token:abc",
        action="finding.bulk_close",
        target_type="finding",
        changes=[(i, None, {"status": "closed"}) for i in range(5)],
        request_id="bulk-1",
    )
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert audit_record_many(tenant=acme, actor="x", action="y", target_type="z", changes=[]) == []
    # The global chain may already hold the default policy's creation (post_migrate).
    before = AuditEvent.objects.filter(tenant_id=None).count()
    glob = audit_record(
        tenant=None,
        actor="user:root",
        action="policy.global_changed",
        target_type="policy",
        target_id=1,
        before=None,
        after={"v": 2},
    )
    assert glob.seq == before + 1 and glob.tenant_id is None
    assert audit_chain_verify(tenant_id=None).ok
    assert AuditChainHead.objects.get(tenant_id=acme.pk).seq == 5


@pytest.mark.django_db
def test_edit_insert_delete_are_detected(acme):
    _record(acme, 6)
    AuditEvent.objects.filter(tenant_id=acme.pk, seq=2).update(actor="user:mallory")
    report = audit_chain_verify(tenant_id=acme.pk)
    assert report.problems == ["row 2 was edited (its hash does not match)"]
    AuditEvent.objects.filter(tenant_id=acme.pk, seq=2).update(actor="user:alice")
    assert audit_chain_verify(tenant_id=acme.pk).ok

    AuditEvent.objects.filter(tenant_id=acme.pk, seq=4).delete()
    problems = audit_chain_verify(tenant_id=acme.pk).problems
    assert "rows 4..4 are missing (deleted)" in problems
    assert any("row 5 does not link" in p for p in problems)


@pytest.mark.django_db
def test_an_inserted_row_is_detected(acme):
    events = _record(acme, 4)
    # Make room after row 2 and insert a forged row with a correct-looking hash.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE platform_auditevent SET seq = seq + 1000 WHERE tenant_id = %s AND seq > 2",
            [acme.pk],
        )
        cursor.execute(
            "UPDATE platform_auditevent SET seq = seq - 999 WHERE tenant_id = %s AND seq > 1000",
            [acme.pk],
        )
    forged = AuditEvent(
        tenant_id=acme.pk,
        seq=3,
        actor="user:mallory",
        action="acceptance.approve",
        target_type="acceptance",
        target_id="9",
        created_at=events[1].created_at,
        prev_hash=events[1].hash,
    )
    forged.hash = event_hash(forged)
    forged.save()
    problems = audit_chain_verify(tenant_id=acme.pk).problems
    assert any("row 4 was edited" in p for p in problems)  # renumbered rows no longer hash
    assert any("row 4 does not link" in p for p in problems)


@pytest.mark.django_db
def test_truncation_is_caught_by_a_signed_checkpoint(acme, evidence_settings):
    _record(acme, 5)
    checkpoint = audit_checkpoint(tenant_id=acme.pk)
    assert checkpoint.seq == 5 and audit_checkpoint(tenant_id=acme.pk) is None
    _record(acme, 2, start=100)
    AuditCheckpoint.objects.filter(tenant=None).delete()
    AuditEvent.objects.filter(tenant_id=None).delete()  # only acme's chain has news
    AuditChainHead.objects.filter(tenant_id=None).delete()
    assert audit_checkpoint_task() == 1
    assert audit_chain_verify(tenant_id=acme.pk).ok
    # Cut rows 5..7 off the end and make the head agree: only the checkpoints see it.
    AuditEvent.objects.filter(tenant_id=acme.pk, seq__gte=5).delete()
    last = AuditEvent.objects.get(tenant_id=acme.pk, seq=4)
    AuditChainHead.objects.filter(tenant_id=acme.pk).update(seq=4, hash=last.hash)
    report = audit_chain_verify(tenant_id=acme.pk)
    assert report.checkpoints == 2
    assert any("truncated" in p for p in report.problems)
    with pytest.raises(CommandError, match="1 audit chain"):
        call_command("verify_audit_chain", "--tenant", acme.slug)


@pytest.mark.django_db
def test_forged_checkpoints_and_a_stale_head_are_reported(acme, evidence_settings):
    _record(acme, 3)
    checkpoint = audit_checkpoint(tenant_id=acme.pk)
    AuditCheckpoint.objects.filter(pk=checkpoint.pk).update(envelope=b"{}")
    assert any("does not verify" in p for p in audit_chain_verify(tenant_id=acme.pk).problems)
    AuditCheckpoint.objects.all().delete()
    AuditChainHead.objects.filter(tenant_id=acme.pk).update(seq=9)
    assert any("chain head" in p for p in audit_chain_verify(tenant_id=acme.pk).problems)


@pytest.mark.django_db
def test_verify_audit_chain_command(acme, globex, evidence_settings, capsys):
    _record(acme, 2)
    _record(globex, 1)
    call_command("verify_audit_chain")
    out = capsys.readouterr().out
    assert "OK acme: 2 events" in out and "OK globex: 1 events" in out
    with pytest.raises(CommandError, match="no tenant"):
        call_command("verify_audit_chain", "--tenant", "nope")


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain(acme):
    errors = []

    def writer(offset: int):
        try:
            _record(acme, 15, start=offset)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(i * 100,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    report = audit_chain_verify(tenant_id=acme.pk)
    assert report.ok and report.events == 45
    assert list(
        AuditEvent.objects.filter(tenant_id=acme.pk).order_by("seq").values_list("seq", flat=True)
    ) == list(range(1, 46))


@pytest.mark.django_db
def test_a_deleted_tenants_chain_outlives_it(evidence_settings):
    """tenant_id is a plain column: deleting a tenant cascades into none of its chain, which
    still verifies; checkpointing skips it instead of failing on the missing tenant."""
    gone = TenantFactory(slug="gone")
    _record(gone, 3)
    assert audit_checkpoint(tenant_id=gone.pk) is not None
    tenant_id = gone.pk
    gone.delete()
    assert AuditEvent.objects.filter(tenant_id=tenant_id).count() == 3
    _record(None, 1)  # the global chain still grows and is checkpointed
    report = audit_chain_verify(tenant_id=tenant_id)
    assert (report.ok, report.events, report.chain) == (True, 3, f"tenant-{tenant_id}")
    assert audit_checkpoint(tenant_id=tenant_id) is None
    assert audit_checkpoint_task() == 1
