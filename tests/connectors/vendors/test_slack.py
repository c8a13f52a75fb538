"""Slack Web API (bot token) and incoming webhook against the fake Slack."""

from __future__ import annotations

import pytest

from apps.connectors.base import RemoteRef, Ticket
from apps.connectors.registry import connector_for, validate_config
from fixops.platform.http.errors import PermanentError, TransientError
from tests.fakes.fixtures import connector

TICKET = Ticket(
    reference="fixops-d-8",
    title="Deploy blocked: api",
    body="2 critical <findings> & more",
    severity="critical",
    url="https://fixops.test/d/8",
)


def test_bot_round_trip(fake_slack):
    slack = connector(fake_slack)
    ref = slack.create(TICKET)
    assert ref.id and ref.extra == {"channel": "C0FIXOPS"}
    [message] = fake_slack.with_reference("fixops-d-8")
    assert message["metadata"]["event_type"] == "fixops_ticket"
    assert [b["type"] for b in message["blocks"]] == ["header", "section", "context", "actions"]
    assert message["blocks"][1]["text"]["text"] == "2 critical &lt;findings&gt; &amp; more"
    assert fake_slack.requests[-1].header("Authorization") == "Bearer xoxb-fixops"

    found = slack.find_by_reference("fixops-d-8")
    assert found.id == ref.id and found.status == "open"
    assert slack.find_by_reference("fixops-d-9") is None

    ref = slack.transition(ref, "closed")
    assert ref.status == "closed"
    assert "closed" in message["blocks"][2]["elements"][0]["text"]
    edits = len(fake_slack.requests_to("POST", r"chat\.update$"))
    assert slack.transition(ref, "closed").status == "closed"
    assert len(fake_slack.requests_to("POST", r"chat\.update$")) == edits  # no second edit

    ref = slack.update(ref, Ticket(**{**TICKET.__dict__, "title": "Deploy unblocked"}))
    assert message["blocks"][0]["text"]["text"] == "Deploy unblocked" and ref.status == "open"
    slack.comment(ref, "Approved by <@U1>")
    assert message["replies"][0]["text"] == "Approved by &lt;@U1&gt;"
    assert len(fake_slack.with_reference("fixops-d-8")) == 1


def test_find_pages_through_history(fake_slack):
    slack = connector(fake_slack)
    first = slack.create(TICKET)
    for i in range(450):
        slack.create(Ticket(reference=f"fixops-f-{i}", title="noise", body=""))
    assert slack.find_by_reference("fixops-d-8").id == first.id
    assert len(fake_slack.requests_to("POST", r"conversations\.history$")) == 3
    assert connector(fake_slack, history_pages=1).find_by_reference("fixops-d-8") is None


def test_ok_false_error_mapping(fake_slack):
    slack = connector(fake_slack)
    fake_slack.fail_next_ok_false(1, "channel_not_found")
    with pytest.raises(PermanentError, match="chat.postMessage failed: channel_not_found"):
        slack.create(TICKET)
    fake_slack.fail_next_ok_false(1, "internal_error")
    with pytest.raises(TransientError, match="internal_error"):
        slack.create(TICKET)
    fake_slack.fail_next_ok_false(1, "token_revoked")
    with pytest.raises(
        PermanentError, match="credentials rejected by chat.postMessage: token_revoked"
    ):
        slack.create(TICKET)
    with pytest.raises(PermanentError, match="message_not_found"):
        slack.update(RemoteRef(id="1.000", extra={"channel": "C0FIXOPS"}), TICKET)
    with pytest.raises(PermanentError, match="not found in C0FIXOPS"):
        slack.transition(RemoteRef(id="1.000"), "closed")
    assert fake_slack.messages() == []


def test_rate_limited_429(fake_slack):
    fake_slack.fail_next(1, 429, retry_after=30)
    with pytest.raises(TransientError, match="ratelimited") as err:
        connector(fake_slack).create(TICKET)
    assert err.value.retry_after == 30 and err.value.status == 429


def test_webhook_mode(fake_slack):
    slack = connector(fake_slack, webhook=True)
    assert slack.test_connection() == "incoming webhook reachable"
    ref = slack.create(TICKET)
    assert ref.id == "" and ref.extra == {"webhook": True}
    assert slack.find_by_reference("fixops-d-8") is None  # a webhook cannot read the channel
    slack.transition(ref, "closed")
    slack.update(ref, TICKET)
    slack.comment(ref, "note")
    posted = fake_slack.state["webhook"]
    assert [p.get("text") for p in posted] == [
        "[critical] Deploy blocked: api",
        "FixOps: closed",
        "[critical] Deploy blocked: api",
        "note",
    ]
    assert "metadata" not in posted[0]  # webhooks take text and blocks only
    fake_slack.state["archived"] = True
    with pytest.raises(PermanentError, match="HTTP 410.*channel_is_archived"):
        slack.create(TICKET)


def test_webhook_errors(fake_slack):
    def hook(path):
        return connector_for(
            "slack",
            base_url=fake_slack.url,
            credentials={"webhook_url": fake_slack.url + path},
            settings={},
        )

    with pytest.raises(PermanentError, match="credentials rejected \\(HTTP 403\\).*invalid_token"):
        hook("/services/T0FIXOPS/B0FIXOPS/wrong").create(TICKET)
    with pytest.raises(PermanentError, match="HTTP 404.*no_service"):
        hook("/services/nope").test_connection()


def test_ref_without_ts_in_bot_mode_is_refused(fake_slack):
    with pytest.raises(PermanentError, match="without a ts"):
        connector(fake_slack).comment(RemoteRef(id=""), "x")


def test_test_connection(fake_slack):
    assert connector(fake_slack).test_connection() == (
        "authenticated as fixops in Acme; channel C0FIXOPS reachable"
    )
    with pytest.raises(PermanentError, match="conversations.info failed: channel_not_found"):
        connector(fake_slack, channel="C0NOPE").test_connection()


def test_config_validation():
    assert validate_config("slack", {"bot_token": "x"}, {"channel": "C1"}) == {}
    assert validate_config("slack", {"webhook_url": "https://hooks.slack.com/services/x"}, {}) == {}
    assert set(validate_config("slack", {"bot_token": "x"}, {"history_pages": 0})) == {
        "settings.channel",
        "settings.history_pages",
    }
    assert set(validate_config("slack", {"webhook_url": "ftp://x"}, {})) == {
        "credentials.webhook_url"
    }
    assert set(validate_config("slack", {}, {})) == {"credentials"}
