"""GitHub webhooks: deliveries signed and shaped by the fake GitHub (tests/fakes/github.py)
are verified and parsed by apps/connectors/github/webhook.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.connectors.base import Ticket
from apps.connectors.github import webhook as hooks
from apps.connectors.inbound.changes import ChangeKind, RemoteChange
from apps.connectors.inbound.signatures import HookMalformed, HookRejected
from tests.connectors.inbound.hooktest import Capture, deep_json, edited, receive, verify, without
from tests.fakes.fixtures import connector
from tests.fakes.github import FakeGitHub

SECRET = "github-webhook-secret-0123456789"


@pytest.fixture
def github():
    with FakeGitHub() as fake:
        capture = Capture()
        fake.subscribe_webhook(capture, secret=SECRET, events=["issues", "issue_comment"])
        ref = connector(fake).create(Ticket(reference="fixops-f-1", title="SQLi", body="x"))
        yield fake, capture, ref


def test_github_official_test_vector():
    """https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation"""
    headers = {
        "X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a"
        "37570b6d7586c22c46f4379c8b043e17",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    }
    verified = verify(hooks, (headers, b"Hello, World!"), secret="It's a Secret to Everybody")
    assert verified.delivery_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    # ...and the fake signs the same way.
    fake = FakeGitHub()
    signed = fake.sign_with(b"Hello, World!", secret="It's a Secret to Everybody", event="ping")
    assert signed["X-Hub-Signature-256"] == headers["X-Hub-Signature-256"]


@pytest.mark.parametrize(
    ("reason", "expected"), [(None, "completed"), ("not_planned", "not_planned")]
)
def test_closed_carries_state_reason(github, reason, expected):
    fake, capture, ref = github
    fake.transition_issue(int(ref.id), "closed", resolution=reason, actor="alice")
    headers, _ = capture.last
    assert verify(hooks, capture.last, secret=SECRET).delivery_id == headers["X-GitHub-Delivery"]
    [change] = receive(hooks, capture.last, secret=SECRET)
    assert change == RemoteChange(
        kind=ChangeKind.STATUS,
        remote_id=ref.id,
        remote_key=f"#{ref.id}",
        status="closed",
        resolution=expected,
        actor="alice",
        occurred_at=change.occurred_at,
    )
    assert abs(change.occurred_at - datetime.now(UTC)) < timedelta(minutes=1)


def test_reopened_comment_deleted(github):
    fake, capture, ref = github
    fake.transition_issue(int(ref.id), "closed")
    fake.transition_issue(int(ref.id), "open", actor="bob")
    [change] = receive(hooks, capture.last, secret=SECRET)
    assert (change.kind, change.status, change.resolution, change.actor) == (
        ChangeKind.STATUS,
        "open",
        "",
        "bob",
    )
    fake.comment_as(int(ref.id), "still broken on main", actor="carol")
    [comment] = receive(hooks, capture.last, secret=SECRET)
    assert (comment.kind, comment.remote_id, comment.comment_body, comment.actor) == (
        ChangeKind.COMMENT,
        ref.id,
        "still broken on main",
        "carol",
    )
    assert comment.comment_id
    fake.delete_issue(int(ref.id), actor="admin")
    [deleted] = receive(hooks, capture.last, secret=SECRET)
    assert (deleted.kind, deleted.remote_id, deleted.actor) == (ChangeKind.DELETED, ref.id, "admin")


def test_pull_request_comments_ping_and_other_actions_are_ignored(github):
    fake, capture, ref = github
    pr = fake.add_pull_request(["fixops-f-1"])
    fake.comment_as(pr["number"], "LGTM")
    assert receive(hooks, capture.last, secret=SECRET) == []
    fake.subscribe_webhook(capture, secret=SECRET, events=["ping"])
    fake.ping()
    assert receive(hooks, capture.last, secret=SECRET) == []
    body = b'{"action": "labeled", "issue": {"number": 1}}'
    assert hooks.parse(headers={"X-GitHub-Event": "issues"}, body=body) == []


def test_forged_wrong_secret_and_tampered_are_401(github):
    fake, capture, ref = github
    fake.transition_issue(int(ref.id), "closed")
    headers, body = capture.last
    forged = fake.sign_with(body, secret="guessed", event="issues")
    for delivery, secret in (
        ((forged, body), SECRET),
        (capture.last, "another-integration's-secret"),
        ((headers, edited(body, action="reopened")), SECRET),
    ):
        with pytest.raises(HookRejected) as caught:
            verify(hooks, delivery, secret=secret)
        assert (caught.value.status, caught.value.code) == (401, "bad_signature")


def test_unsigned_legacy_sha1_only_and_unconfigured_are_401(github):
    fake, capture, ref = github
    fake.transition_issue(int(ref.id), "closed")
    headers, body = capture.last
    for delivery, secret in (
        ((without(headers, "X-Hub-Signature-256", "X-Hub-Signature"), body), SECRET),
        ((without(headers, "X-Hub-Signature-256"), body), SECRET),  # SHA-1 is not enough
        (capture.last, ""),
    ):
        with pytest.raises(HookRejected) as caught:
            verify(hooks, delivery, secret=secret)
        assert caught.value.status == 401


def test_malformed_headers_are_400(github):
    fake, capture, ref = github
    fake.transition_issue(int(ref.id), "closed")
    headers, body = capture.last
    for bad in (
        {**headers, "X-Hub-Signature-256": "sha1=" + "a" * 40},
        {**headers, "X-Hub-Signature-256": "sha256=" + "g" * 64},
        without(headers, "X-GitHub-Delivery"),
    ):
        with pytest.raises(HookRejected) as caught:
            verify(hooks, (bad, body), secret=SECRET)
        assert caught.value.status == 400


def test_no_window_a_redelivery_keeps_its_delivery_id(github):
    """GitHub signs no timestamp; a redelivery (days later, from the deliveries API) carries
    the same X-GitHub-Delivery, which is what makes a replay change nothing."""
    fake, capture, ref = github
    fake.transition_issue(int(ref.id), "closed")
    first = verify(hooks, capture.last, secret=SECRET)
    fake.redeliver(fake.last_delivery())
    later = verify(hooks, capture.last, secret=SECRET, now=datetime.now(UTC) + timedelta(days=2))
    assert later == first


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'"a string"',
        deep_json(10_000),
        b'{"action": "closed", "issue": "1"}',
        b'{"action": "closed", "issue": {"title": "no number"}}',
        b'{"action": "closed", "issue": {"number": 1, "state_reason": ["completed"]}}',
        b'{"action": "closed", "issue": {"number": 1, "closed_at": "yesterday"}}',
    ],
)
def test_malformed_bodies_signed_by_github(github, body):
    fake, _, _ = github
    headers = fake.sign_with(body, secret=SECRET, event="issues")
    verify(hooks, (headers, body), secret=SECRET)
    with pytest.raises(HookMalformed):
        hooks.parse(headers=headers, body=body)
