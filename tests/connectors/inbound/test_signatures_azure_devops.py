"""Azure DevOps service hooks: deliveries authenticated and shaped by the fake Azure DevOps
(tests/fakes/azure_devops.py) — basic auth or a custom header, current and legacy (2016)
payloads — verified and parsed by apps/connectors/azure_devops/webhook.py."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from apps.connectors.azure_devops import webhook as hooks
from apps.connectors.base import Ticket
from apps.connectors.inbound.changes import ChangeKind
from apps.connectors.inbound.signatures import HookMalformed, HookRejected
from tests.connectors.inbound.hooktest import Capture, deep_json, receive, verify, without
from tests.fakes.azure_devops import FakeAzureDevOps
from tests.fakes.fixtures import connector

SECRET = "ado-hook-password-0123456789"
EVENTS = ["workitem.updated", "workitem.commented", "workitem.deleted"]
HEADER = {"webhook_auth": "header", "webhook_header": "X-Hook-Key"}


@pytest.fixture(params=[("current", "basic"), ("legacy", "basic"), ("current", "header")], ids=str)
def ado(request):
    style, auth = request.param
    with FakeAzureDevOps(hook_style=style) as fake:
        capture = Capture()
        if auth == "header":
            fake.subscribe_webhook(
                capture, secret=SECRET, events=EVENTS, auth="header", header="X-Hook-Key"
            )
        else:
            fake.subscribe_webhook(capture, secret=SECRET, events=EVENTS)
        ref = connector(fake).create(Ticket(reference="fixops-f-1", title="SQLi", body="x"))
        yield fake, capture, ref, HEADER if auth == "header" else {}


def test_state_change_with_resolved_reason(ado):
    fake, capture, ref, settings = ado
    fake.transition_issue(int(ref.id), "Resolved", resolution="Won't Fix", actor="amy@acme.test")
    verified = verify(hooks, capture.last, secret=SECRET, settings=settings)
    assert verified.delivery_id == json.loads(capture.last[1])["id"]
    [change] = receive(hooks, capture.last, secret=SECRET, settings=settings)
    assert (change.kind, change.remote_id, change.status, change.resolution) == (
        ChangeKind.STATUS,
        ref.id,
        "Resolved",
        "Won't Fix",
    )
    expected_actor = "Amy" if fake.hook_style == "legacy" else "amy@acme.test"
    assert change.actor == expected_actor
    assert abs(change.occurred_at - datetime.now(UTC)) < timedelta(minutes=1)
    fake.transition_issue(int(ref.id), "Active")
    [change] = receive(hooks, capture.last, secret=SECRET, settings=settings)
    # ResolvedReason stays on the item; the state says it is active again.
    assert change.status == "Active"


def test_comment_and_delete(ado):
    fake, capture, ref, settings = ado
    fake.comment_as(int(ref.id), "patched in build 42", actor="ben@acme.test")
    [comment] = receive(hooks, capture.last, secret=SECRET, settings=settings)
    assert (comment.kind, comment.remote_id, comment.comment_body, comment.actor) == (
        ChangeKind.COMMENT,
        ref.id,
        "patched in build 42",
        "Ben" if fake.hook_style == "legacy" else "ben@acme.test",
    )
    assert comment.comment_id
    fake.delete_issue(int(ref.id))
    [deleted] = receive(hooks, capture.last, secret=SECRET, settings=settings)
    assert (deleted.kind, deleted.remote_id) == (ChangeKind.DELETED, ref.id)


def test_the_aspnet_fixture_shape():
    """The 2016 fixture: workItemId 0, the work item in revision.id, revisedBy null."""
    body = json.dumps(
        {
            "id": "27646e0e-b520-4d2b-9411-bba7524947cd",
            "eventType": "workitem.updated",
            "resource": {
                "id": 2,
                "workItemId": 0,
                "rev": 2,
                "revisedBy": None,
                "revisedDate": "0001-01-01T00:00:00",
                "fields": {
                    "System.State": {"oldValue": "New", "newValue": "Approved"},
                    "System.ChangedDate": {"newValue": "2014-07-15T17:42:44.663Z"},
                },
                "revision": {"id": 5, "rev": 2, "fields": {"System.ChangedBy": "Jamal Hartnett"}},
            },
            "createdDate": "2016-05-02T19:19:12.8836446Z",
        }
    ).encode()
    [change] = hooks.parse(headers={}, body=body)
    assert (change.remote_id, change.status, change.actor) == ("5", "Approved", "Jamal Hartnett")
    assert change.occurred_at == datetime(2014, 7, 15, 17, 42, 44, 663000, tzinfo=UTC)


def test_wrong_and_missing_credentials_are_401(ado):
    fake, capture, ref, settings = ado
    fake.transition_issue(int(ref.id), "Closed")
    headers, body = capture.last
    forged = fake.sign_with(body, secret="guessed", event="workitem.updated")
    if settings:  # the custom header names another header than the subscription's
        forged = {"X-Hook-Key": forged.get("X-FixOps-Token", "guessed"), **forged}
    cases = [
        (forged, SECRET),
        (headers, "another-integration's-secret"),
        (without(headers, "Authorization", "X-Hook-Key"), SECRET),
    ]
    for delivery_headers, secret in cases:
        with pytest.raises(HookRejected) as caught:
            verify(hooks, (delivery_headers, body), secret=secret, settings=settings)
        assert caught.value.status == 401
    with pytest.raises(HookRejected):
        verify(hooks, capture.last, secret="", settings=settings)


def test_basic_auth_checks_the_user_name_too():
    with FakeAzureDevOps() as fake:
        capture = Capture()
        fake.subscribe_webhook(capture, secret=SECRET, username="someone-else")
        ref = connector(fake).create(Ticket(reference="fixops-f-1", title="SQLi", body="x"))
        fake.transition_issue(int(ref.id), "Closed")
        with pytest.raises(HookRejected) as caught:
            verify(hooks, capture.last, secret=SECRET)
        assert caught.value.status == 401
        settings = {"webhook_username": "someone-else"}
        assert verify(hooks, capture.last, secret=SECRET, settings=settings).delivery_id


def test_a_header_subscription_does_not_pass_basic_mode_and_back(ado):
    fake, capture, ref, settings = ado
    fake.transition_issue(int(ref.id), "Closed")
    other = {} if settings else HEADER
    with pytest.raises(HookRejected) as caught:
        verify(hooks, capture.last, secret=SECRET, settings=other)
    assert caught.value.status == 401


@pytest.mark.parametrize(
    "value", ["Bearer abc", "Basic !!!not-base64", "Basic " + base64.b64encode(b"nocolon").decode()]
)
def test_malformed_authorization_is_400(value):
    with pytest.raises(HookRejected) as caught:
        verify(hooks, ({"Authorization": value}, b"{}"), secret=SECRET)
    assert caught.value.status == 400


def test_no_window_a_retry_keeps_the_event_id(ado):
    """Nothing time-bound is signed: a late retry verifies, with the same event id."""
    fake, capture, ref, settings = ado
    fake.transition_issue(int(ref.id), "Closed")
    first = verify(hooks, capture.last, secret=SECRET, settings=settings)
    fake.redeliver(fake.last_delivery())
    later = verify(
        hooks,
        capture.last,
        secret=SECRET,
        settings=settings,
        now=datetime.now(UTC) + timedelta(hours=3),
    )
    assert later == first


@pytest.mark.parametrize(
    "body",
    [
        b"<xml/>",
        b"[]",
        deep_json(10_000),
        b'{"eventType": "workitem.updated", "resource": []}',
        b'{"eventType": "workitem.updated", "resource": {"fields": {"System.State": '
        b'{"newValue": "Closed"}}}}',
        b'{"eventType": "workitem.updated", "resource": {"workItemId": 5, "fields": '
        b'{"System.State": {"newValue": ["Closed"]}}}}',
        b'{"eventType": "workitem.deleted", "resource": {"fields": {}}}',
    ],
)
def test_malformed_bodies_with_valid_auth(ado, body):
    fake, _, _, settings = ado
    headers = fake.sign(body, fake.subscriptions[0], event="workitem.updated")
    assert verify(hooks, (headers, body), secret=SECRET, settings=settings).delivery_id
    with pytest.raises(HookMalformed):
        hooks.parse(headers=headers, body=body)


def test_other_events_and_edits_are_empty():
    for body in (
        b'{"eventType": "git.push", "resource": {}}',
        b'{"eventType": "workitem.updated", "resource": {"workItemId": 5, "fields": '
        b'{"System.Title": {"newValue": "x"}}}}',
    ):
        assert hooks.parse(headers={}, body=body) == []
