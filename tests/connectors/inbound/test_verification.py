"""A ticket closed as done makes its finding fixed pending verification; the next scan of the
stream decides: no longer reported -> verified, still reported -> reopened (the scanner wins)
and the reopened ticket is told why. Real imports through the scans API."""

from __future__ import annotations

import pytest

from apps.connectors.inbound.apply import apply_changes
from apps.connectors.inbound.changes import ChangeKind, RemoteChange
from apps.connectors.models import ExternalLink, Integration, MessageKind, OutboxMessage
from apps.findings.models import Finding, FindingStatus
from tests.findings.reports import Result, sarif, upload

pytestmark = pytest.mark.django_db

A = Result(rule="rule-a", path="src/a.py", snippet="eval(a)")
B = Result(rule="rule-b", path="src/b.py", snippet="eval(b)")


def _scan(client, *results, sha=""):
    body = sarif(list(results))
    response = client.post(
        "/api/v1/scans/",
        {"file": upload(body), "application": "web", "branch": "main", "commit": sha or "c1"},
        format="multipart",
    )
    assert response.status_code in (200, 201), response.content


def _close_tickets_as_done(acme, findings):
    jira = Integration(tenant=acme, kind="jira", name="j", base_url="https://jira.example.com")
    jira.save()
    for n, finding in enumerate(findings):
        ExternalLink.objects.create(
            tenant=acme,
            integration=jira,
            reference=f"fixops-f-{finding.pk}",
            finding=finding,
            remote_id=str(n),
            remote_key=f"SEC-{n}",
            state="open",
        )
    done = [
        RemoteChange(ChangeKind.STATUS, str(n), status="Done", status_category="done")
        for n in range(len(findings))
    ]
    assert apply_changes(jira, done, source="webhook").applied == len(findings)


def test_next_scan_verifies_the_gone_and_reopens_the_still_reported(
    acme, acme_admin, django_capture_on_commit_callbacks
):
    _scan(acme_admin, A, B, sha="c1")
    a, b = Finding.objects.filter(tenant=acme).order_by("path")
    _close_tickets_as_done(acme, [a, b])
    assert set(Finding.objects.values_list("status", flat=True)) == {FindingStatus.FIXED}
    with django_capture_on_commit_callbacks(execute=True):
        _scan(acme_admin, B, sha="c2")  # A is gone, B still there
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.status, b.status) == (FindingStatus.VERIFIED, FindingStatus.REOPENED)
    # B's ticket is reopened with a comment saying the scan still reports it.
    [reopen] = OutboxMessage.objects.filter(
        kind=MessageKind.TRANSITION, reference__endswith=f"-{b.pk}"
    )
    assert reopen.payload["status"] == "open"
    assert "still reports this finding" in reopen.payload["comment"]
    assert not OutboxMessage.objects.filter(reference__endswith=f"-{a.pk}").exists()
