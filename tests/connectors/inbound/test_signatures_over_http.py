"""The fakes' sending side over real HTTP on loopback: every vendor's signed delivery reaches
a receiver byte for byte and verifies there; held deliveries go out late and out of order."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
import requests

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


def _auth(fake) -> dict[str, str]:
    """The credentials each fake's API takes (as its connector sends them)."""
    if isinstance(fake, FakeJira):
        pair = f"{fake.email}:{fake.api_token}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    if isinstance(fake, FakeGitHub):
        return {"Authorization": f"Bearer {fake.token}"}
    if isinstance(fake, FakeGitLab):
        return {"PRIVATE-TOKEN": fake.token}
    return {"Authorization": "Basic " + base64.b64encode(f":{fake.token}".encode()).decode()}


URL = "{receiver}/hooks/abc/"
REGISTRATIONS = {
    FakeJira: (
        "/rest/webhooks/1.0/webhook",
        {"name": "FixOps", "url": URL, "secret": SECRET, "events": ["jira:issue_updated"]},
        201,
        {},
    ),
    FakeGitHub: (
        "/repos/acme/app/hooks",
        {
            "name": "web",
            "events": ["issues", "issue_comment"],
            "config": {"url": URL, "content_type": "json", "secret": SECRET},
        },
        201,
        {},
    ),
    FakeGitLab: (
        "/api/v4/projects/42/hooks",
        {"url": URL, "token": SECRET, "issues_events": True, "signing_token": SECRET},
        201,
        {"webhook_signing": "required"},
    ),
    FakeAzureDevOps: (
        "/acme/_apis/hooks/subscriptions?api-version=7.1",
        {
            "publisherId": "tfs",
            "eventType": "workitem.updated",
            "consumerId": "webHooks",
            "consumerActionId": "httpRequest",
            "consumerInputs": {"url": URL, "httpHeaders": f"X-FixOps-Token:{SECRET}"},
        },
        200,
        {"webhook_auth": "header"},
    ),
}


@pytest.mark.parametrize("fake_class", list(REGISTRATIONS))
def test_webhooks_registered_through_the_vendors_api(fake_class):
    """Registering as docs/connectors.md says (the vendor's API call) makes the fake deliver
    there, authenticated with the secret given at registration."""
    path, body, status, settings = REGISTRATIONS[fake_class]
    with LoopbackReceiver() as receiver, fake_class() as fake:
        body = json.loads(json.dumps(body).replace(URL, URL.format(receiver=receiver.url)))
        answer = requests.post(fake.url + path, json=body, headers=_auth(fake), timeout=5)
        assert answer.status_code == status, answer.text
        assert SECRET not in answer.text  # vendors never echo the secret
        ref = connector(fake).create(Ticket(reference="fixops-f-1", title="SQLi", body="x"))
        close(fake, ref)
        kind = fake.config()["kind"]
        received = [r for r in receiver.requests if r.header("X-GitHub-Event") != "ping"]
        assert received
        for request in received:
            HOOKS[kind].verify(
                secret=SECRET,
                headers=request.headers,
                body=request.body,
                now=datetime.now(UTC),
                settings=settings,
            )
        if fake_class is FakeGitHub:  # GitHub pings a new hook
            assert any(r.header("X-GitHub-Event") == "ping" for r in receiver.requests)


def test_gitlab_refuses_a_signing_token_of_the_wrong_form():
    with FakeGitLab() as fake:
        body = {"url": "http://127.0.0.1:9/hooks/x/", "token": SECRET, "signing_token": "abc"}
        answer = requests.post(
            fake.url + "/api/v4/projects/42/hooks", json=body, headers=_auth(fake), timeout=5
        )
        assert answer.status_code == 400
