"""Jira Cloud and Data Center webhooks: deliveries signed and shaped by the fake Jira
(tests/fakes/jira.py) are verified and parsed by apps/connectors/jira/webhook.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.connectors.base import Ticket
from apps.connectors.inbound.changes import ChangeKind, RemoteChange
from apps.connectors.inbound.signatures import HookMalformed, HookRejected
from apps.connectors.jira import webhook as hooks
from tests.connectors.inbound.hooktest import Capture, deep_json, edited, receive, verify, without
from tests.fakes.fixtures import connector
from tests.fakes.jira import FakeJira
from tests.fakes.webhooks import LoopbackReceiver

SECRET = "jira-webhook-secret-0123456789"


@pytest.fixture(params=["cloud", "datacenter"])
def jira(request):
    with FakeJira(deployment=request.param) as fake:
        capture = Capture()
        fake.subscribe_webhook(
            capture,
            secret=SECRET,
            events=["jira:issue_updated", "comment_created", "jira:issue_deleted"],
        )
        ref = connector(fake).create(Ticket(reference="fixops-f-1", title="SQLi", body="x"))
        yield fake, capture, ref


def actor_of(fake: FakeJira, who: str) -> str:
    return fake.webhook_user(who)["accountId" if fake.deployment == "cloud" else "name"]


def test_done_with_wont_do_resolution(jira):
    fake, capture, ref = jira
    fake.transition_issue(ref.key, "Done", resolution="Won't Do", actor="u-alice")
    headers, _ = capture.last
    verified = verify(hooks, capture.last, secret=SECRET)
    assert verified.delivery_id == headers["X-Atlassian-Webhook-Identifier"]
    [change] = receive(hooks, capture.last, secret=SECRET)
    assert change == RemoteChange(
        kind=ChangeKind.STATUS,
        remote_id=ref.id,
        remote_key=ref.key,
        status="Done",
        status_category="done",
        resolution="Won't Do",
        actor=actor_of(fake, "u-alice"),
        occurred_at=change.occurred_at,
    )
    assert abs(change.occurred_at - datetime.now(UTC)) < timedelta(minutes=1)


def test_reopen_and_progress_have_no_resolution(jira):
    fake, capture, ref = jira
    fake.transition_issue(ref.key, "Done")
    fake.transition_issue(ref.key, "To Do", actor="u-bob")
    [change] = receive(hooks, capture.last, secret=SECRET)
    assert (change.status, change.status_category, change.resolution) == ("To Do", "new", "")
    fake.transition_issue(ref.key, "In Progress")
    [change] = receive(hooks, capture.last, secret=SECRET)
    assert (change.status, change.status_category) == ("In Progress", "indeterminate")


def test_comment_and_delete(jira):
    fake, capture, ref = jira
    fake.comment_as(ref.key, "fixed in 1.2.3", actor="u-carol")
    [comment] = receive(hooks, capture.last, secret=SECRET)
    assert comment.kind == ChangeKind.COMMENT
    assert (comment.remote_id, comment.comment_body) == (ref.id, "fixed in 1.2.3")
    assert comment.comment_id and comment.actor == actor_of(fake, "u-carol")
    fake.delete_issue(ref.key)
    [deleted] = receive(hooks, capture.last, secret=SECRET)
    assert (deleted.kind, deleted.remote_id, deleted.remote_key) == (
        ChangeKind.DELETED,
        ref.id,
        ref.key,
    )


def test_forged_and_wrong_secret_are_401(jira):
    fake, capture, ref = jira
    fake.transition_issue(ref.key, "Done")
    headers, body = capture.last
    forged = fake.sign_with(body, secret="guessed", event="jira:issue_updated")
    with pytest.raises(HookRejected) as caught:
        verify(hooks, (forged, body), secret=SECRET)
    assert (caught.value.status, caught.value.code) == (401, "bad_signature")
    with pytest.raises(HookRejected) as caught:
        verify(hooks, capture.last, secret="another-integration's-secret")
    assert caught.value.status == 401
    # A signed delivery whose body was changed on the way.
    tampered = edited(body, webhookEvent="jira:issue_deleted")
    with pytest.raises(HookRejected) as caught:
        verify(hooks, (headers, tampered), secret=SECRET)
    assert caught.value.status == 401


def test_unsigned_and_unconfigured_are_401(jira):
    fake, capture, ref = jira
    fake.transition_issue(ref.key, "Done")
    headers, body = capture.last
    with pytest.raises(HookRejected) as caught:
        verify(hooks, (without(headers, "X-Hub-Signature"), body), secret=SECRET)
    assert (caught.value.status, caught.value.code) == (401, "unsigned")
    with pytest.raises(HookRejected) as caught:
        verify(hooks, capture.last, secret="")
    assert caught.value.status == 401


@pytest.mark.parametrize(
    "value", ["sha1=" + "a" * 40, "sha256=" + "z" * 64, "sha256=abc", "v0=" + "a" * 64]
)
def test_malformed_signature_header_is_400(jira, value):
    fake, capture, ref = jira
    fake.transition_issue(ref.key, "Done")
    headers, body = capture.last
    with pytest.raises(HookRejected) as caught:
        verify(hooks, ({**headers, "X-Hub-Signature": value}, body), secret=SECRET)
    assert caught.value.status == 400


def test_no_window_a_late_retry_verifies_with_the_same_delivery_id(jira):
    """Jira signs no timestamp and retries for ~30 min: a late retry is accepted, and its
    delivery id (the same on every retry) is what makes a replay change nothing."""
    fake, capture, ref = jira
    fake.transition_issue(ref.key, "Done")
    first = verify(hooks, capture.last, secret=SECRET)
    fake.redeliver(fake.last_delivery())
    later = verify(hooks, capture.last, secret=SECRET, now=datetime.now(UTC) + timedelta(hours=1))
    assert later.delivery_id == first.delivery_id
    assert later.occurred_at is None


def test_without_identifier_the_delivery_id_is_a_body_digest(jira):
    """A Data Center release that sends no identifier: the digest of the signed body stands in,
    the same for a byte-identical retry, different for another event."""
    fake, capture, ref = jira
    fake.transition_issue(ref.key, "Done")
    headers, body = capture.last
    bare = without(headers, "X-Atlassian-Webhook-Identifier")
    first = verify(hooks, (bare, body), secret=SECRET).delivery_id
    assert first.startswith("sha256:")
    assert verify(hooks, (bare, body), secret=SECRET).delivery_id == first
    fake.transition_issue(ref.key, "To Do")
    headers, body = capture.last
    bare = without(headers, "X-Atlassian-Webhook-Identifier")
    assert verify(hooks, (bare, body), secret=SECRET).delivery_id != first


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        deep_json(10_000),
        b'{"webhookEvent": "jira:issue_updated", "issue": [], '
        b'"changelog": {"items": [{"field": "status"}]}}',
        b'{"webhookEvent": "jira:issue_updated", "changelog": {"items": "status"}}',
        b'{"webhookEvent": "comment_created", "issue": {"id": "1"}, "comment": {"body": "x"}}',
        b'{"webhookEvent": "jira:issue_deleted", "issue": {"key": "SEC-1"}}',
        b'{"webhookEvent": "jira:issue_updated", "timestamp": "yesterday", "issue": {"id": "1"},'
        b' "changelog": {"items": [{"field": "status"}]}}',
    ],
)
def test_malformed_bodies_signed_by_jira(jira, body):
    fake, _, _ = jira
    headers = fake.sign_with(body, secret=SECRET, event="jira:issue_updated")
    verify(hooks, (headers, body), secret=SECRET)  # authentic, yet not Jira's shape
    with pytest.raises(HookMalformed):
        hooks.parse(headers=headers, body=body)


def test_events_not_followed_are_empty():
    for body in (
        b'{"webhookEvent": "jira:issue_created", "issue": {"id": "1", "key": "SEC-1"}}',
        b'{"webhookEvent": "jira:issue_updated", "issue": {"id": "1"}, '
        b'"changelog": {"items": [{"field": "summary", "toString": "new title"}]}}',
        b'{"webhookEvent": "jira:issue_updated", "issue": {"id": "1"}}',
    ):
        assert hooks.parse(headers={}, body=body) == []


def test_deliveries_go_over_http_byte_for_byte():
    """A URL subscription is POSTed on loopback: the receiver gets the signed bytes."""
    with LoopbackReceiver() as receiver, FakeJira() as fake:
        fake.subscribe_webhook(f"{receiver.url}/hooks/abc/", secret=SECRET)
        ref = connector(fake).create(Ticket(reference="fixops-f-2", title="XSS", body="x"))
        [delivery] = fake.transition_issue(ref.key, "Done")
        assert delivery.status == 200
        [request] = receiver.requests
        assert request.path == "/hooks/abc/" and request.body == delivery.body
        [change] = receive(hooks, (request.headers, request.body), secret=SECRET)
        assert change.status_category == "done"
