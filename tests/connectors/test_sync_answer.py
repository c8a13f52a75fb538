"""POST /api/v1/integrations/{id}/sync says what it means (issue 16): the work done during the
sync and what is still out of sync, even while a worker delivers the same queue."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.utils import timezone

from apps.connectors import drain, tickets
from apps.connectors.attempts import Connectors, DrainStats
from apps.connectors.models import Drift, ExternalLink, Integration, OutboxMessage
from tests.findings.factories import ApplicationFactory, FindingFactory

ZEROS = {"pending": 0, "retrying": 0, "dead": 0, "breaker_open": 0, "drift": 0}


def _sync(client, integration) -> dict:
    response = client.post(f"/api/v1/integrations/{integration.pk}/sync")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db(transaction=True)
def test_sync_right_after_a_worker_delivered_thirty_tickets(
    acme, acme_admin, fake_jira, make_integration
):
    """The reported case: a scan's 30 tickets, 29 of them delivered by the worker the scan's
    commit triggered, whose batch records its outcomes only when it ends. The sync answered
    {"delivered": 1, "pending": 29} (it counted in-flight messages as pending and ignored what
    the worker delivered); it now waits for the worker within its budget and answers 30."""
    jira = make_integration(acme, fake_jira)
    app = ApplicationFactory(tenant=acme)
    findings = FindingFactory.create_batch(30, tenant=acme, application=app, severity="high")
    tickets.findings_changed(tenant_id=acme.pk, cause="scan1", opened=[f.pk for f in findings])
    owner = drain.worker_id()
    batch = drain.claim(owner=owner, limit=29)
    results = drain._deliver_batch(owner, batch, Connectors())
    assert len(fake_jira.state["issues"]) == 29  # at the vendor, not yet recorded

    def worker_records() -> None:
        drain.record(owner, results, DrainStats())
        connection.close()

    timer = threading.Timer(0.5, worker_records)
    timer.start()
    answer = _sync(acme_admin, jira)
    timer.join()
    assert len(fake_jira.state["issues"]) == 30
    assert answer == {"queued": 0, "delivered": 30, "failed": 0, "out_of_sync": ZEROS}
    assert ExternalLink.objects.filter(integration=jira).count() == 30
    # Nothing left to do: zeros.
    assert _sync(acme_admin, jira) == {
        "queued": 0,
        "delivered": 0,
        "failed": 0,
        "out_of_sync": ZEROS,
    }


@pytest.mark.django_db
def test_sync_counts_failures_breaker_and_drift(acme, acme_admin, fake_jira, make_integration):
    jira = make_integration(acme, fake_jira)
    FindingFactory(tenant=acme, severity="high")
    fake_jira.down()
    answer = _sync(acme_admin, jira)
    assert answer["queued"] == 1 and answer["delivered"] == 0 and answer["failed"] == 1
    assert answer["out_of_sync"] == {**ZEROS, "retrying": 1}
    # The breaker opens: the message waits on it, counted there (not as retrying too).
    Integration.objects.filter(pk=jira.pk).update(breaker_state="open")
    held = _sync(acme_admin, jira)
    assert held["queued"] == 0 and held["out_of_sync"] == {**ZEROS, "breaker_open": 1}
    # Back up and the backoff over (a sync does not retry before the vendor's Retry-After):
    # delivered; open drift found by reconciliation is part of the answer.
    fake_jira.up()
    OutboxMessage.objects.update(next_attempt_at=timezone.now())
    Integration.objects.filter(pk=jira.pk).update(breaker_state="closed")
    Drift.objects.create(
        tenant=acme, integration=jira, kind="ticket_deleted", reference="fixops-f-999"
    )
    done = _sync(acme_admin, jira)
    assert done["delivered"] == 1 and done["out_of_sync"] == {**ZEROS, "drift": 1}
