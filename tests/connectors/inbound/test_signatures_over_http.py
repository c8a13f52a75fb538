"""The fakes' sending side over real HTTP on loopback: every vendor's signed delivery reaches
a receiver byte for byte and verifies there; held deliveries go out late and out of order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apps.connectors.base import Ticket
from apps.connectors.inbound.vendors import HOOKS
from apps.connectors.registry import TRACKER_KINDS
from tests.fakes.azure_devops import FakeAzureDevOps
from tests.fakes.fixtures import connector
from tests.fakes.github import FakeGitHub
from tests.fakes.gitlab import FakeGitLab
from tests.fakes.jira import FakeJira
from tests.fakes.servicenow import FakeServiceNow
from tests.fakes.slack import FakeSlack
from tests.fakes.webhooks import LoopbackReceiver

SECRET = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


def close(fake, ref):
    """The vendor's "close the ticket" (Slack: press a button)."""
    if isinstance(fake, FakeSlack):
        return fake.press_button(ref.id, "fixops_ack", "fixops-f-1")
    status = {
        FakeJira: ("Done",),
        FakeGitHub: ("closed",),
        FakeGitLab: ("closed",),
        FakeAzureDevOps: ("Closed",),
        FakeServiceNow: ("7",),
    }[type(fake)]
    key = ref.key if isinstance(fake, FakeJira) else ref.id
    key = int(key) if isinstance(fake, FakeGitHub | FakeGitLab | FakeAzureDevOps) else key
    return fake.transition_issue(key, *status)


@pytest.mark.parametrize(
    "fake_class", [FakeJira, FakeGitHub, FakeGitLab, FakeAzureDevOps, FakeServiceNow, FakeSlack]
)
def test_each_vendor_delivers_over_http(fake_class):
    with LoopbackReceiver() as receiver, fake_class() as fake:
        fake.subscribe_webhook(f"{receiver.url}/hooks/abc/", secret=SECRET)
        kind = fake.config()["kind"]
        ref = connector(fake).create(Ticket(reference="fixops-f-1", title="SQLi", body="x"))
        deliveries = close(fake, ref)
        assert deliveries and all(d.status == 200 for d in deliveries)
        assert [r.body for r in receiver.requests] == [d.body for d in deliveries]
        hooks = HOOKS[kind]
        for request in receiver.requests:
            assert request.path == "/hooks/abc/"
            verified = hooks.verify(
                secret=SECRET,
                headers=request.headers,
                body=request.body,
                now=datetime.now(UTC),
                settings={},
            )
            assert verified.delivery_id
        changes = hooks.parse(
            headers=receiver.requests[-1].headers, body=receiver.requests[-1].body
        )
        assert [c.remote_id for c in changes] == [ref.id]


def test_held_deliveries_go_out_late_and_out_of_order():
    with LoopbackReceiver() as receiver, FakeGitHub() as fake:
        fake.subscribe_webhook(f"{receiver.url}/hooks/abc", secret=SECRET, events=["issues"])
        ref = connector(fake).create(Ticket(reference="fixops-f-1", title="SQLi", body="x"))
        with fake.holding() as held:
            fake.transition_issue(int(ref.id), "closed")
            fake.transition_issue(int(ref.id), "open")
        assert len(held) == 2 and receiver.requests == []
        fake.release(held, reverse=True)
        actions = [r.json["action"] for r in receiver.requests]
        assert actions == ["reopened", "closed"]


def test_a_receiver_that_fails_is_recorded():
    with LoopbackReceiver(status=503) as receiver, FakeJira() as fake:
        fake.subscribe_webhook(receiver.url + "/hooks/x/", secret=SECRET)
        ref = connector(fake).create(Ticket(reference="fixops-f-1", title="SQLi", body="x"))
        [delivery] = fake.transition_issue(ref.key, "Done")
        assert delivery.status == 503
        receiver.stop()
        assert fake.redeliver(delivery).status == 0  # connection refused


def test_every_tracker_and_slack_has_a_webhook_module():
    assert set(HOOKS) == TRACKER_KINDS | {"slack"}
    for module in HOOKS.values():
        assert callable(module.verify) and callable(module.parse)
