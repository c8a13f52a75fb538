"""Slack interactivity: button presses signed and shaped by the fake Slack
(tests/fakes/slack.py) are verified and parsed by apps/connectors/slack/webhook.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from apps.connectors.base import Ticket
from apps.connectors.inbound.changes import ChangeKind, RemoteChange
from apps.connectors.inbound.signatures import HookMalformed, HookRejected
from apps.connectors.registry import connector_class
from apps.connectors.slack import webhook as hooks
from tests.connectors.inbound.hooktest import Capture, receive, verify, without
from tests.fakes.fixtures import connector
from tests.fakes.slack import FakeSlack

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documentation example secret


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        capture = Capture()
        fake.subscribe_webhook(capture, secret=SECRET)
        ref = connector(fake).create(Ticket(reference="fixops-d-1", title="BLOCK", body="x"))
        yield fake, capture, ref


def test_slack_documentation_vector():
    """https://api.slack.com/authentication/verifying-requests-from-slack (step by step)."""
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
        b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
        b"command=%2Fwebhook-collect&text=&"
        b"response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F"
        b"96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    headers = {
        "X-Slack-Request-Timestamp": "1531420618",
        "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    }
    at = datetime.fromtimestamp(1531420618, tz=UTC)
    verified = verify(hooks, (headers, body), secret=SECRET, now=at + timedelta(seconds=30))
    assert verified.occurred_at == at
    # ...and the fake signs the same way.
    signed = FakeSlack().sign_with(body, secret=SECRET, event="slash_command", at=at)
    assert signed["X-Slack-Signature"] == headers["X-Slack-Signature"]


def test_signing_secret_is_a_write_only_credential():
    [field] = [f for f in connector_class("slack").fields if f.name == hooks.SECRET_CREDENTIAL]
    assert field.secret and field.where == "credentials"


def test_button_press_is_an_action(slack):
    fake, capture, ref = slack
    fake.press_button(ref.id, "fixops_accept_risk", "fixops-f-12", user="U0ALICE")
    headers, body = capture.last
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    verified = verify(hooks, capture.last, secret=SECRET)
    assert verified.delivery_id.startswith("sha256:")
    assert abs(verified.occurred_at - datetime.now(UTC)) < timedelta(seconds=5)
    [change] = receive(hooks, capture.last, secret=SECRET)
    assert change == RemoteChange(
        kind=ChangeKind.ACTION,
        remote_id=ref.id,
        remote_key=ref.id,
        actor="U0ALICE",
        action="fixops_accept_risk",
        value="fixops-f-12",
        occurred_at=change.occurred_at,
    )


def test_a_replay_has_the_same_delivery_id_a_second_press_another(slack):
    fake, capture, ref = slack
    fake.press_button(ref.id, "fixops_accept_risk", "fixops-f-12")
    first = verify(hooks, capture.last, secret=SECRET)
    fake.redeliver(fake.last_delivery())
    assert verify(hooks, capture.last, secret=SECRET).delivery_id == first.delivery_id
    fake.press_button(ref.id, "fixops_accept_risk", "fixops-f-12")
    assert verify(hooks, capture.last, secret=SECRET).delivery_id != first.delivery_id


def test_forged_tampered_and_wrong_secret_are_401(slack):
    fake, capture, ref = slack
    fake.press_button(ref.id, "fixops_accept_risk", "fixops-f-12")
    headers, body = capture.last
    forged = fake.sign_with(body, secret="guessed", event="block_actions")
    moved = {
        **headers,
        "X-Slack-Request-Timestamp": str(int(headers["X-Slack-Request-Timestamp"]) + 1),
    }
    tampered = body.replace(b"fixops-f-12", b"fixops-f-13")
    for delivery, secret in (
        ((forged, body), SECRET),
        ((headers, tampered), SECRET),
        ((moved, body), SECRET),
        (capture.last, "another-app's-signing-secret"),
    ):
        with pytest.raises(HookRejected) as caught:
            verify(hooks, delivery, secret=secret)
        assert (caught.value.status, caught.value.code) == (401, "bad_signature")


def test_unsigned_and_unconfigured_are_401(slack):
    fake, capture, ref = slack
    fake.press_button(ref.id, "fixops_accept_risk")
    headers, body = capture.last
    with pytest.raises(HookRejected) as caught:
        verify(hooks, (without(headers, "X-Slack-Signature"), body), secret=SECRET)
    assert (caught.value.status, caught.value.code) == (401, "unsigned")
    with pytest.raises(HookRejected):
        verify(hooks, capture.last, secret="")


def test_stale_is_401(slack):
    fake, capture, ref = slack
    fake.press_button(ref.id, "fixops_accept_risk")
    _, body = capture.last
    old = fake.sign_with(
        body,
        secret=SECRET,
        event="block_actions",
        at=datetime.now(UTC) - timedelta(minutes=5, seconds=30),
    )
    with pytest.raises(HookRejected) as caught:
        verify(hooks, (old, body), secret=SECRET)
    assert (caught.value.status, caught.value.code) == (401, "stale")
    with pytest.raises(HookRejected) as caught:
        verify(hooks, capture.last, secret=SECRET, now=datetime.now(UTC) + timedelta(minutes=6))
    assert caught.value.code == "stale"


@pytest.mark.parametrize(
    "changes",
    [
        {"X-Slack-Signature": "v1=" + "a" * 64},
        {"X-Slack-Signature": "v0=short"},
        {"X-Slack-Request-Timestamp": "1.5e9"},
        {"X-Slack-Request-Timestamp": ""},
    ],
)
def test_malformed_headers_are_400(slack, changes):
    fake, capture, ref = slack
    fake.press_button(ref.id, "fixops_accept_risk")
    headers, body = capture.last
    with pytest.raises(HookRejected) as caught:
        verify(hooks, ({**headers, **changes}, body), secret=SECRET)
    assert caught.value.status == 400


def form(payload) -> bytes:
    return urlencode(
        {"payload": payload if isinstance(payload, str) else json.dumps(payload)}
    ).encode()


@pytest.mark.parametrize(
    "body",
    [
        b'{"type": "block_actions"}',  # JSON, not a form
        b"payload=%7B&payload=%7B",
        b"text=hello",
        form("{not json"),
        form("[" * 10_000 + "]" * 10_000),
        form({"type": "block_actions", "container": {"message_ts": "1.2"}, "actions": []}),
        form({"type": "block_actions", "container": {}, "actions": [{"action_id": "a"}]}),
        form(
            {
                "type": "block_actions",
                "container": {"message_ts": "1.2"},
                "actions": [{"value": "v"}],
            }
        ),
        b"\xff\xfe=\xff",
    ],
)
def test_malformed_bodies_signed_by_slack(slack, body):
    fake, _, _ = slack
    headers = fake.sign_with(body, secret=SECRET, event="block_actions")
    verify(hooks, (headers, body), secret=SECRET)
    with pytest.raises(HookMalformed):
        hooks.parse(headers=headers, body=body)


def test_other_interactions_are_empty():
    assert hooks.parse(headers={}, body=form({"type": "view_submission", "view": {}})) == []
    assert hooks.parse(headers={}, body=form({"type": "shortcut", "callback_id": "x"})) == []
