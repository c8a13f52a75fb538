"""ServiceNow: deliveries of the FixOps contract, signed and shaped by the fake ServiceNow
playing the documented business rule (tests/fakes/servicenow.py), verified and parsed by
apps/connectors/servicenow/webhook.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.connectors.base import Ticket
from apps.connectors.inbound.changes import ChangeKind, RemoteChange
from apps.connectors.inbound.signatures import HookMalformed, HookRejected
from apps.connectors.servicenow import webhook as hooks
from tests.connectors.inbound.hooktest import Capture, deep_json, edited, receive, verify, without
from tests.fakes.fixtures import connector
from tests.fakes.servicenow import FakeServiceNow

SECRET = "snow-hook-secret-0123456789"


@pytest.fixture
def snow():
    with FakeServiceNow() as fake:
        capture = Capture()
        fake.subscribe_webhook(capture, secret=SECRET)
        ref = connector(fake).create(Ticket(reference="fixops-f-1", title="SQLi", body="x"))
        yield fake, capture, ref


def test_resolved_with_close_code(snow):
    fake, capture, ref = snow
    fake.transition_issue(ref.id, "6", resolution="Not Solved (Not Reproducible)", actor="beth")
    headers, _ = capture.last
    verified = verify(hooks, capture.last, secret=SECRET)
    assert verified.delivery_id == headers["X-FixOps-Delivery"]
    assert abs(verified.occurred_at - datetime.now(UTC)) < timedelta(seconds=5)
    [change] = receive(hooks, capture.last, secret=SECRET)
    assert change == RemoteChange(
        kind=ChangeKind.STATUS,
        remote_id=ref.id,
        remote_key=ref.key,
        status="Resolved",
        status_category="6",
        resolution="Not Solved (Not Reproducible)",
        actor="beth",
        occurred_at=change.occurred_at,
    )
    assert abs(change.occurred_at - datetime.now(UTC)) < timedelta(minutes=1)


def test_comment_and_delete(snow):
    fake, capture, ref = snow
    fake.comment_as(ref.id, "Patched on all hosts", actor="carl")
    [comment] = receive(hooks, capture.last, secret=SECRET)
    assert (comment.kind, comment.remote_id, comment.comment_body, comment.actor) == (
        ChangeKind.COMMENT,
        ref.id,
        "Patched on all hosts",
        "carl",
    )
    assert comment.comment_id
    fake.delete_issue(ref.id)
    [deleted] = receive(hooks, capture.last, secret=SECRET)
    assert (deleted.kind, deleted.remote_id, deleted.remote_key) == (
        ChangeKind.DELETED,
        ref.id,
        ref.key,
    )


def test_forged_tampered_and_wrong_secret_are_401(snow):
    fake, capture, ref = snow
    fake.transition_issue(ref.id, "7", resolution="Solved (Permanently)")
    headers, body = capture.last
    forged = fake.sign_with(body, secret="guessed", event="incident.updated")
    moved = {**headers, "X-FixOps-Timestamp": str(int(headers["X-FixOps-Timestamp"]) - 1)}
    for delivery, secret in (
        ((forged, body), SECRET),
        ((headers, edited(body, state="2")), SECRET),
        ((moved, body), SECRET),  # the timestamp is under the signature
        (capture.last, "another-integration's-secret"),
    ):
        with pytest.raises(HookRejected) as caught:
            verify(hooks, delivery, secret=secret)
        assert (caught.value.status, caught.value.code) == (401, "bad_signature")


def test_unsigned_and_unconfigured_are_401(snow):
    fake, capture, ref = snow
    fake.transition_issue(ref.id, "6", resolution="Solved (Permanently)")
    headers, body = capture.last
    with pytest.raises(HookRejected) as caught:
        verify(hooks, (without(headers, "X-FixOps-Signature"), body), secret=SECRET)
    assert (caught.value.status, caught.value.code) == (401, "unsigned")
    with pytest.raises(HookRejected):
        verify(hooks, capture.last, secret="")


def test_stale_and_future_timestamps_are_401(snow):
    fake, capture, ref = snow
    fake.transition_issue(ref.id, "6", resolution="Solved (Permanently)")
    _, body = capture.last
    for at in (
        datetime.now(UTC) - timedelta(minutes=6),
        datetime.now(UTC) + timedelta(minutes=6),
    ):
        old = fake.sign_with(body, secret=SECRET, event="incident.updated", at=at)
        with pytest.raises(HookRejected) as caught:
            verify(hooks, (old, body), secret=SECRET)
        assert (caught.value.status, caught.value.code) == (401, "stale")
    # Within the window, a replay verifies: the delivery id is what makes it change nothing.
    fake.redeliver(fake.last_delivery())
    assert verify(hooks, capture.last, secret=SECRET, now=datetime.now(UTC) + timedelta(minutes=4))


@pytest.mark.parametrize(
    "changes",
    [
        {"X-FixOps-Signature": "sha1=" + "a" * 40},
        {"X-FixOps-Timestamp": "2026-12-06T10:00:00Z"},
        {"X-FixOps-Timestamp": ""},
        {"X-FixOps-Delivery": ""},
    ],
)
def test_malformed_headers_are_400(snow, changes):
    fake, capture, ref = snow
    fake.transition_issue(ref.id, "6", resolution="Solved (Permanently)")
    headers, body = capture.last
    with pytest.raises(HookRejected) as caught:
        verify(hooks, ({**headers, **changes}, body), secret=SECRET)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    "body",
    [
        b"{]",
        b"null",
        deep_json(10_000),
        b'{"event": "incident.updated", "number": "INC1"}',
        b'{"event": "incident.updated", "sys_id": "a1", "state": {"value": "6"}}',
        b'{"event": "incident.updated", "sys_id": "a1", "state": "6", "sys_updated_on": "now"}',
        b'{"event": "incident.commented", "sys_id": "a1", "comment": "text"}',
    ],
)
def test_malformed_bodies_signed_by_the_rule(snow, body):
    fake, _, _ = snow
    headers = fake.sign_with(body, secret=SECRET, event="incident.updated")
    verify(hooks, (headers, body), secret=SECRET)
    with pytest.raises(HookMalformed):
        hooks.parse(headers=headers, body=body)


def test_other_events_are_empty():
    assert hooks.parse(headers={}, body=b'{"event": "problem.updated", "sys_id": "a1"}') == []
