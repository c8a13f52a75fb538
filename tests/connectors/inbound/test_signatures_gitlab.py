"""GitLab webhooks: deliveries signed and shaped by the fake GitLab (tests/fakes/gitlab.py),
as GitLab 13.12 (token only, "… UTC" times) and 17.4+ (Idempotency-Key, optional Standard
Webhooks signing token) send them, verified and parsed by apps/connectors/gitlab/webhook.py."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from apps.connectors.base import Ticket
from apps.connectors.gitlab import webhook as hooks
from apps.connectors.inbound.changes import ChangeKind
from apps.connectors.inbound.signatures import HookMalformed, HookRejected
from tests.connectors.inbound.hooktest import Capture, deep_json, edited, receive, verify, without
from tests.fakes.fixtures import connector
from tests.fakes.gitlab import FakeGitLab
from tests.fakes.webhooks import Subscription

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
EVENTS = ["Issue Hook", "Note Hook"]


def start(version: str, signed: bool):
    fake = FakeGitLab(version=version).start()
    capture = Capture()
    options = {"signing_token": SECRET} if signed else {}
    fake.subscribe_webhook(capture, secret=SECRET, events=EVENTS, **options)
    ref = connector(fake).create(Ticket(reference="fixops-f-1", title="SQLi", body="x"))
    return fake, capture, ref


@pytest.fixture(params=[("13.12", False), ("17.4", False), ("17.4", True)], ids=str)
def gitlab(request):
    fake, capture, ref = start(*request.param)
    yield fake, capture, ref
    fake.stop()


@pytest.fixture
def signed():
    fake, capture, ref = start("17.4", True)
    yield fake, capture, ref
    fake.stop()


def test_new_secret_is_a_signing_token():
    secret = hooks.new_secret()
    assert secret.startswith("whsec_") and len(hooks.signing_key(secret)) == 32


def test_close_sends_update_and_close_both_read_as_closed(gitlab):
    fake, capture, ref = gitlab
    fake.transition_issue(int(ref.id), "closed", actor="alice")
    assert len(capture.received) == 2
    changes = [c for d in capture.received for c in receive(hooks, d, secret=SECRET)]
    assert [(c.kind, c.remote_id, c.remote_key, c.status, c.actor) for c in changes] == [
        (ChangeKind.STATUS, ref.id, f"#{ref.id}", "closed", "alice")
    ] * 2
    assert all(abs(c.occurred_at - datetime.now(UTC)) < timedelta(minutes=1) for c in changes)
    fake.transition_issue(int(ref.id), "opened", actor="bob")
    [change] = receive(hooks, capture.last, secret=SECRET)
    assert (change.status, change.actor) == ("opened", "bob")


def test_note_on_issue_is_a_comment(gitlab):
    fake, capture, ref = gitlab
    fake.comment_as(int(ref.id), "fixed by !12", actor="carol")
    [comment] = receive(hooks, capture.last, secret=SECRET)
    assert (comment.kind, comment.remote_id, comment.comment_body, comment.actor) == (
        ChangeKind.COMMENT,
        ref.id,
        "fixed by !12",
        "carol",
    )
    assert comment.comment_id


def test_delivery_id_by_version(gitlab):
    fake, capture, ref = gitlab
    fake.transition_issue(int(ref.id), "closed")
    headers, _ = capture.last
    verified = verify(hooks, capture.last, secret=SECRET)
    if fake.modern:  # the same on GitLab's retries
        assert verified.delivery_id == headers["Idempotency-Key"]
    else:
        assert verified.delivery_id == headers["X-Gitlab-Event-UUID"]
    fake.redeliver(fake.last_delivery())
    assert verify(hooks, capture.last, secret=SECRET).delivery_id == verified.delivery_id


def test_wrong_and_missing_token_are_401(gitlab):
    fake, capture, ref = gitlab
    fake.transition_issue(int(ref.id), "closed")
    headers, body = capture.last
    with pytest.raises(HookRejected) as caught:
        verify(hooks, ({**headers, "X-Gitlab-Token": "guessed"}, body), secret=SECRET)
    assert caught.value.status == 401
    with pytest.raises(HookRejected) as caught:
        verify(hooks, capture.last, secret="whsec_another-integration")
    assert caught.value.status == 401
    bare = without(headers, "X-Gitlab-Token", "webhook-signature")
    with pytest.raises(HookRejected) as caught:
        verify(hooks, (bare, body), secret=SECRET)
    assert (caught.value.status, caught.value.code) == (401, "unsigned")
    with pytest.raises(HookRejected):
        verify(hooks, capture.last, secret="")


def test_token_only_is_refused_when_signing_is_required(gitlab):
    fake, capture, ref = gitlab
    fake.transition_issue(int(ref.id), "closed")
    headers, body = capture.last
    settings = {"webhook_signing": "required"}
    if "webhook-signature" in headers:
        assert verify(hooks, capture.last, secret=SECRET, settings=settings).occurred_at
    with pytest.raises(HookRejected) as caught:
        verify(
            hooks, (without(headers, "webhook-signature"), body), secret=SECRET, settings=settings
        )
    assert caught.value.status == 401


def test_signed_delivery_tampered_forged_and_stale(signed):
    fake, capture, ref = signed
    fake.transition_issue(int(ref.id), "closed")
    headers, body = capture.last
    verified = verify(hooks, capture.last, secret=SECRET)
    assert verified.delivery_id == headers["webhook-id"] == headers["Idempotency-Key"]
    assert abs(verified.occurred_at - datetime.now(UTC)) < timedelta(seconds=5)
    # The body changed on the way: the token still matches, the signature does not.
    with pytest.raises(HookRejected) as caught:
        verify(hooks, (headers, edited(body, object_kind="note")), secret=SECRET)
    assert (caught.value.status, caught.value.code) == (401, "bad_signature")
    # Signed with another signing token (same secret token).
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    forged = fake.sign(
        body, Subscription("", SECRET, options={"signing_token": other}), event="Issue Hook"
    )
    with pytest.raises(HookRejected) as caught:
        verify(hooks, (forged, body), secret=SECRET)
    assert caught.value.code == "bad_signature"
    # A signed delivery replayed ten minutes later is outside the window.
    with pytest.raises(HookRejected) as caught:
        verify(hooks, capture.last, secret=SECRET, now=datetime.now(UTC) + timedelta(minutes=10))
    assert (caught.value.status, caught.value.code) == (401, "stale")
    old = fake.sign(
        body,
        Subscription("", SECRET, options={"signing_token": SECRET}),
        event="Issue Hook",
        at=datetime.now(UTC) - timedelta(minutes=6),
    )
    with pytest.raises(HookRejected) as caught:
        verify(hooks, (old, body), secret=SECRET)
    assert caught.value.code == "stale"
    # The timestamp is under the signature: moving it forward breaks the signature.
    moved = {**headers, "webhook-timestamp": str(int(datetime.now(UTC).timestamp()) + 1)}
    with pytest.raises(HookRejected):
        verify(hooks, (moved, body), secret=SECRET)


@pytest.mark.parametrize(
    "changes",
    [
        {"webhook-signature": "v2,abc"},
        {"webhook-timestamp": "yesterday"},
        {"webhook-id": ""},
    ],
)
def test_malformed_signing_headers_are_400(signed, changes):
    fake, capture, ref = signed
    fake.transition_issue(int(ref.id), "closed")
    headers, body = capture.last
    with pytest.raises(HookRejected) as caught:
        verify(hooks, ({**headers, **changes}, body), secret=SECRET)
    assert caught.value.status == 400


def test_untracked_events_and_edits_are_empty(gitlab):
    fake, capture, ref = gitlab
    title_edit = (
        b'{"object_kind": "issue", "object_attributes": {"iid": 1, "state": "opened", '
        b'"action": "update"}, "changes": {"title": {"previous": "a", "current": "b"}}}'
    )
    mr_note = (
        b'{"object_kind": "note", "object_attributes": {"id": 1, "noteable_type": "MergeRequest"}}'
    )
    push = b'{"object_kind": "push", "ref": "refs/heads/main"}'
    for body in (title_edit, mr_note, push):
        assert hooks.parse(headers={}, body=body) == []


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        deep_json(10_000),
        b'{"object_kind": "issue", "object_attributes": []}',
        b'{"object_kind": "issue", "object_attributes": {"action": "close"}}',
        b'{"object_kind": "issue", "object_attributes": {"action": "close", "iid": 1, '
        b'"state": "closed", "updated_at": "last tuesday UTC"}}',
        b'{"object_kind": "note", "object_attributes": {"noteable_type": "Issue"}, "issue": {}}',
    ],
)
def test_malformed_bodies_with_a_valid_token(gitlab, body):
    fake, _, _ = gitlab
    headers = fake.sign_with(body, secret=SECRET, event="Issue Hook")
    verify(hooks, (headers, body), secret=SECRET)
    with pytest.raises(HookMalformed):
        hooks.parse(headers=headers, body=body)


def test_an_issue_sent_as_a_work_item_reads_the_same(gitlab):
    """Newer GitLab can send issues as `object_kind: work_item` (Work Item Hook)."""
    fake, capture, ref = gitlab
    fake.transition_issue(int(ref.id), "closed")
    headers, body = capture.last
    work_item = edited(body, object_kind="work_item", event_type="work_item")
    assert hooks.parse(headers=headers, body=work_item) == hooks.parse(headers=headers, body=body)
