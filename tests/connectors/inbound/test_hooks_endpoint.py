"""POST /hooks/<public_id>/ end to end: the fake vendors sign and send their documented
payloads to our endpoint; valid deliveries are stored and applied only by the inbox worker;
forged, unsigned, replayed, oversized, wrong-tenant, malformed and unknown deliveries change
nothing."""

from __future__ import annotations

import io
import json
from io import StringIO
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apps.connectors.inbound.inbox import inbox_drain
from apps.connectors.inbound.vendors import HOOKS
from apps.connectors.models import DeliveryStatus, InboundDelivery
from apps.findings.models import FindingStatus
from apps.policies.models import RiskAcceptance
from fixops.celery import app
from fixops.wsgi import application as wsgi_application
from tests.connectors.inbound.conftest import endpoint, hook_path

pytestmark = pytest.mark.django_db


@pytest.fixture
def jira(acme, fake_jira, make_integration):
    return make_integration(acme, fake_jira, min_severity="low")


def _status(finding):
    finding.refresh_from_db()
    return finding.status


def test_jira_close_is_stored_then_applied_by_the_worker_once(jira, fake_jira, ticket_for):
    finding, link = ticket_for(jira)
    target = endpoint(jira)
    fake_jira.subscribe_webhook(target, secret=jira.webhook_secret)
    [delivery] = fake_jira.transition_issue(link.remote_key, "Done", actor="alice-account")
    assert delivery.status == 202
    assert target.last.json()["status"] == "accepted"
    row = InboundDelivery.objects.get(integration=jira)
    assert row.status == DeliveryStatus.PENDING
    assert row.delivery_id == delivery.headers["X-Atlassian-Webhook-Identifier"]
    assert bytes(row.body) == delivery.body
    assert _status(finding) == FindingStatus.OPEN  # nothing applied by the endpoint
    stats = inbox_drain(budget_seconds=10)
    assert (stats.claimed, stats.applied) == (1, 1)
    assert _status(finding) == FindingStatus.FIXED
    row.refresh_from_db()
    assert row.status == DeliveryStatus.APPLIED and row.applied_at is not None
    assert row.result["effects"] == {"fixed": 1}
    # Jira retries the same delivery (same identifier): 200, nothing stored or changed.
    again = fake_jira.redeliver(delivery)
    assert again.status == 200
    assert InboundDelivery.objects.count() == 1
    assert inbox_drain(budget_seconds=5).claimed == 0


def test_both_spellings_answer(jira, fake_jira, ticket_for):
    _, link = ticket_for(jira)
    fake_jira.subscribe_webhook(endpoint(jira, slash=False), secret=jira.webhook_secret)
    [delivery] = fake_jira.transition_issue(link.remote_key, "In Progress")
    assert delivery.status == 202


def test_forged_unsigned_and_wrong_tenant_deliveries_are_refused(
    jira, fake_jira, ticket_for, globex, make_integration, fake_github
):
    finding, link = ticket_for(jira)
    forged = fake_jira.subscribe_webhook(endpoint(jira), secret="not-the-secret")
    [answer] = fake_jira.transition_issue(link.remote_key, "Done")
    assert answer.status == 401
    forged.active = False
    body = fake_jira.last_delivery().body
    headers = {k: v for k, v in answer.headers.items() if k != "X-Hub-Signature"}
    unsigned = fake_jira.send_raw(endpoint(jira), body=body, headers=headers)
    assert unsigned.status == 401
    # Another tenant's integration URL, signed with this tenant's secret.
    other = make_integration(globex, fake_jira, name="globex-jira")
    signed = fake_jira.sign_with(body, secret=jira.webhook_secret, event="jira:issue_updated")
    assert fake_jira.send_raw(endpoint(other), body=body, headers=signed).status == 401
    assert not InboundDelivery.objects.exists()
    assert _status(finding) == FindingStatus.OPEN


def test_a_valid_delivery_for_another_tenants_ticket_changes_nothing(
    jira, fake_jira, ticket_for, globex, make_integration
):
    """globex's integration receives a (validly signed) delivery naming acme's ticket id:
    links are looked up within the receiving integration only."""
    finding, link = ticket_for(jira)
    other = make_integration(globex, fake_jira, name="globex-jira")
    fake_jira.subscribe_webhook(endpoint(other), secret=other.webhook_secret)
    [delivery] = fake_jira.transition_issue(link.remote_key, "Done")
    assert delivery.status == 202
    assert inbox_drain(budget_seconds=5).ignored == 1
    assert InboundDelivery.objects.get().result["unmatched"] == 1
    assert _status(finding) == FindingStatus.OPEN


def test_unknown_disabled_oversized_and_malformed(jira, fake_jira, ticket_for, client):
    _, link = ticket_for(jira)
    fake_jira.subscribe_webhook(endpoint(jira), secret=jira.webhook_secret)
    [valid] = fake_jira.transition_issue(link.remote_key, "In Progress")
    InboundDelivery.objects.all().delete()
    unknown = client.post("/hooks/nope/", valid.body, content_type="application/json")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "hook_not_found"
    with override_settings(FIXOPS_HOOK_MAX_BYTES=100):
        big = fake_jira.redeliver(valid)
    assert big.status == 413
    assert big.target.last.json()["error"]["details"] == {"limit_bytes": 100}
    body = b"{not json"
    headers = fake_jira.sign_with(body, secret=jira.webhook_secret, event="jira:issue_updated")
    malformed = fake_jira.send_raw(endpoint(jira), body=body, headers=headers)
    assert malformed.status == 400
    jira.enabled = False
    jira.save(update_fields=["enabled"])
    assert fake_jira.redeliver(valid).status == 404
    assert not InboundDelivery.objects.exists()
    assert client.get(hook_path(jira)).status_code == 405


def test_events_fixops_does_not_follow_are_stored_ignored_without_a_worker(
    jira, fake_jira, ticket_for
):
    _, link = ticket_for(jira)
    body = json.dumps({"webhookEvent": "jira:version_released", "timestamp": 1}).encode()
    headers = fake_jira.sign_with(body, secret=jira.webhook_secret, event="x")
    assert fake_jira.send_raw(endpoint(jira), body=body, headers=headers).status == 200
    assert InboundDelivery.objects.get().status == DeliveryStatus.IGNORED


def test_github_close_not_planned_asks_for_an_acceptance(
    acme, fake_github, make_integration, ticket_for, django_capture_on_commit_callbacks
):
    github = make_integration(acme, fake_github, min_severity="low")
    finding, link = ticket_for(github)
    fake_github.subscribe_webhook(endpoint(github), secret=github.webhook_secret)
    [delivery] = fake_github.transition_issue(
        int(link.remote_id), "closed", resolution="not_planned"
    )
    assert delivery.status == 202
    with django_capture_on_commit_callbacks(execute=True):
        inbox_drain(budget_seconds=5)
    assert _status(finding) == FindingStatus.OPEN
    assert RiskAcceptance.objects.get(finding=finding).status == "requested"


def test_rotation_refuses_the_old_secret(jira, fake_jira, ticket_for, acme_admin):
    _, link = ticket_for(jira)
    old = jira.webhook_secret
    answer = acme_admin.post(f"/api/v1/integrations/{jira.pk}/rotate-webhook-secret/")
    assert answer.status_code == 200
    new = answer.json()["webhook_secret"]
    assert new and new != old
    assert answer.json()["webhook_url"].endswith(f"/hooks/{jira.public_id}/")
    fake_jira.subscribe_webhook(endpoint(jira), secret=old)
    [refused] = fake_jira.transition_issue(link.remote_key, "Done")
    assert refused.status == 401
    fake_jira.subscriptions[-1].secret = new
    [accepted] = fake_jira.transition_issue(link.remote_key, "In Progress")
    assert accepted.status == 202


def test_a_delivery_whose_worker_died_is_taken_over_and_applied_once(jira, fake_jira, ticket_for):
    finding, link = ticket_for(jira)
    fake_jira.subscribe_webhook(endpoint(jira), secret=jira.webhook_secret)
    fake_jira.transition_issue(link.remote_key, "Done")
    # A worker claimed it and died before applying (its lease ran out).
    InboundDelivery.objects.update(
        status=DeliveryStatus.PROCESSING,
        lease_owner="dead-worker",
        lease_expires_at=timezone.now() - timezone.timedelta(seconds=1),
        attempts=1,
    )
    stats = inbox_drain(budget_seconds=5)
    assert (stats.claimed, stats.applied) == (1, 1)
    assert _status(finding) == FindingStatus.FIXED
    row = InboundDelivery.objects.get()
    assert (row.status, row.attempts) == (DeliveryStatus.APPLIED, 2)


def test_a_stored_body_the_parser_refuses_fails_visibly(jira, fake_jira, ticket_for):
    _, link = ticket_for(jira)
    fake_jira.subscribe_webhook(endpoint(jira), secret=jira.webhook_secret)
    fake_jira.transition_issue(link.remote_key, "Done")
    InboundDelivery.objects.update(body=b"[]")
    stats = inbox_drain(budget_seconds=5)
    assert stats.failed == 1
    row = InboundDelivery.objects.get()
    assert row.status == DeliveryStatus.FAILED and "malformed" in row.error


def test_the_secret_is_shown_once_and_the_url_always(acme_admin, fake_jira, settings):
    config = fake_jira.config()
    created = acme_admin.post(
        "/api/v1/integrations/", {"name": "jira", **config}, format="json"
    ).json()
    assert len(created["webhook_secret"]) >= 32
    assert created["webhook_url"].startswith("/hooks/") and created["webhook_url_warning"]
    public_id = created["webhook_url"].split("/")[2]
    assert len(public_id) >= 22 and public_id != str(created["id"])  # >= 128 random bits
    settings.FIXOPS_PUBLIC_URL = "https://fixops.example.com/"
    shown = acme_admin.get(f"/api/v1/integrations/{created['id']}/").json()
    assert "webhook_secret" not in shown and shown["has_webhook_secret"]
    assert shown["webhook_url"] == f"https://fixops.example.com/hooks/{public_id}/"
    assert shown["webhook_url_warning"] == ""


def _wsgi_chunked_hook(path: str, body: bytes, headers: dict[str, str]) -> tuple[str, bytes]:
    """POST a de-chunked body (as gunicorn presents it) through fixops.wsgi."""
    environ: dict = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "CONTENT_TYPE": headers.get("Content-Type", "application/json"),
        "HTTP_TRANSFER_ENCODING": "chunked",
        "SERVER_NAME": "localhost",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
    }
    for name, value in headers.items():
        if name.lower() != "content-type":
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    setup_testing_defaults(environ)
    environ.pop("CONTENT_LENGTH", None)
    answer: list[str] = []
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        chunks = wsgi_application(environ, lambda status, _headers: answer.append(status))
        return answer[0], b"".join(chunks)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_chunked_deliveries_are_read_and_bounded_by_the_hook_limit(jira, fake_jira, ticket_for):
    _, link = ticket_for(jira)
    fake_jira.subscribe_webhook(endpoint(jira), secret=jira.webhook_secret)
    [sent] = fake_jira.transition_issue(link.remote_key, "In Progress")
    InboundDelivery.objects.all().delete()
    status, _ = _wsgi_chunked_hook(hook_path(jira), sent.body, sent.headers)
    assert status.startswith("202")
    InboundDelivery.objects.all().delete()
    with override_settings(FIXOPS_HOOK_MAX_BYTES=100, FIXOPS_UPLOAD_MAX_BYTES=10**8):
        status, body = _wsgi_chunked_hook(hook_path(jira), sent.body, sent.headers)
    assert status.startswith("413")
    assert json.loads(body)["error"]["details"] == {"limit_bytes": 100}
    assert not InboundDelivery.objects.exists()


class _FlakyParser:
    """Stands in for a vendor module whose parse hits an unexpected error (a bug, a lost
    database connection): what the worker must retry, then give up on visibly."""

    def __init__(self, real) -> None:
        self.real = real

    def parse(self, **kwargs):
        raise ConnectionError("database went away")


def test_unexpected_failures_back_off_then_fail(jira, fake_jira, ticket_for, monkeypatch):
    _, link = ticket_for(jira)
    fake_jira.subscribe_webhook(endpoint(jira), secret=jira.webhook_secret)
    fake_jira.transition_issue(link.remote_key, "Done")
    InboundDelivery.objects.update(max_attempts=2)
    monkeypatch.setitem(HOOKS, "jira", _FlakyParser(HOOKS["jira"]))
    assert inbox_drain(budget_seconds=5).retried == 1
    row = InboundDelivery.objects.get()
    assert row.status == DeliveryStatus.PENDING and "database went away" in row.error
    assert row.next_attempt_at > timezone.now()  # backed off: not due yet
    assert inbox_drain(budget_seconds=5).claimed == 0
    InboundDelivery.objects.update(next_attempt_at=timezone.now())
    assert inbox_drain(budget_seconds=5).failed == 1
    assert InboundDelivery.objects.get().status == DeliveryStatus.FAILED


def test_beat_runs_the_inbox_task_as_a_safety_net(settings):
    call_command("sync_schedules", stdout=StringIO())
    task = PeriodicTask.objects.get(name="process inbox")
    assert task.task == "fixops.connectors.inbox_process"
    assert task.interval.every == settings.FIXOPS_INBOX_POLL_SECONDS
    assert "fixops.connectors.inbox_process" in app.tasks
