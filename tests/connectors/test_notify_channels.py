"""The new channels deliver through the real outbox drain: Teams (Adaptive Card accepted by the
fake Workflows webhook), a Standard Webhooks receiver verifying signatures independently, and a
real SMTP server (aiosmtpd) with STARTTLS and AUTH; failures are classified (down / slow / 4xx
retried, 5xx and bad certificates dead); SSRF and configuration checks refuse bad URLs."""

from __future__ import annotations

import pytest

from apps.connectors import drain
from apps.connectors.announce import notify
from apps.connectors.models import MessageStatus, NotificationRule, OutboxMessage
from apps.connectors.services import integration_create, integration_test
from apps.connectors.webhook import signing
from fixops.platform.errors import Invalid, UpstreamFailed
from tests.fakes.smtp import SilentServer, SmtpServer
from tests.fakes.teams import FakeTeams
from tests.fakes.webhook_receiver import FakeWebhookReceiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_teams():
    with FakeTeams() as fake:
        yield fake


@pytest.fixture
def receiver():
    with FakeWebhookReceiver() as fake:
        yield fake


def _routed(tenant, integration, events=("acceptance_expired",), **fields):
    NotificationRule.objects.create(
        tenant=tenant,
        name=f"to {integration.name}",
        integration=integration,
        events=list(events),
        **fields,
    )
    return integration


def _notify(tenant, n: int = 1, **overrides) -> int:
    kwargs = {
        "event": "acceptance_expired",
        "title": f"Risk acceptance {n} (CVE-2026-1) expired",
        "body": "2 finding(s) reopened.\nJustification was: vendor patch pending",
        "severity": "high",
        "reference": f"fixops-acceptance-{n}",
        "cause": f"acceptance-{n}",
        "url": "https://fixops.example.com/admin/policies/riskacceptance/1/",
        **overrides,
    }
    return notify(tenant, **kwargs)


def _email(tenant, recipients=("sec@acme.example", "ops@acme.example")):
    return integration_create(
        tenant=tenant,
        kind="email",
        name="security mail",
        base_url="https://fixops.example.com",
        credentials={},
        settings={"recipients": list(recipients), "subject_prefix": "[FixOps acme]"},
    )


# --- Teams -------------------------------------------------------------------------------------


def test_teams_receives_one_adaptive_card_per_notice(acme, fake_teams, make_integration):
    _routed(acme, make_integration(acme, fake_teams))
    assert _notify(acme) == 1
    assert _notify(acme) == 0  # the same cause again
    assert drain.drain(budget_seconds=20).delivered == 1
    [card] = fake_teams.cards
    title, facts, body = card["body"]
    assert title["text"] == "Risk acceptance 1 (CVE-2026-1) expired"
    assert title["color"] == "attention"  # high
    assert {"title": "Event", "value": "acceptance_expired"} in facts["facts"]
    assert "vendor patch pending" in body["text"]
    assert card["actions"][0]["type"] == "Action.OpenUrl"


def test_teams_oversized_bodies_are_clipped_to_fit(acme, fake_teams, make_integration):
    _routed(acme, make_integration(acme, fake_teams))
    _notify(acme, body="é" * 29_000)  # 58 KB in UTF-16: over Teams' 28 KB
    assert drain.drain(budget_seconds=20).delivered == 1
    [card] = fake_teams.cards
    assert card["body"][2]["text"].endswith("…")


def test_teams_throttling_is_retried_and_a_bad_sig_is_dead(acme, fake_teams, make_integration):
    integration = _routed(acme, make_integration(acme, fake_teams))
    fake_teams.fail_next(1, 429, retry_after=0)
    _notify(acme)
    drain.drain(budget_seconds=20)
    message = OutboxMessage.objects.get()
    assert message.status == MessageStatus.FAILED and "429" in message.last_error
    credentials = integration.credentials
    credentials["webhook_url"] = credentials["webhook_url"].replace("sig=", "sig=x")
    integration.credentials = credentials
    integration.save()
    OutboxMessage.objects.update(next_attempt_at=message.created_at)
    drain.drain(budget_seconds=20)
    message.refresh_from_db()
    assert message.status == MessageStatus.DEAD and "401" in message.last_error
    assert fake_teams.cards == []


def test_retired_connector_urls_and_private_addresses_are_refused(acme):
    for url, problem in (
        ("https://acme.webhook.office.com/webhookb2/x", "retired"),
        ("https://10.1.2.3/workflows/x?sig=s", "private"),
    ):
        with pytest.raises(Invalid) as caught:
            integration_create(
                tenant=acme,
                kind="teams",
                name="t",
                base_url="https://prod-1.westeurope.logic.azure.com",
                credentials={"webhook_url": url},
            )
        assert problem in str(caught.value.details["credentials.webhook_url"]).lower()


# --- Standard Webhooks ----------------------------------------------------------------------


def test_signed_webhook_is_verified_by_an_independent_receiver(acme, receiver, make_integration):
    _routed(acme, make_integration(acme, receiver))
    _notify(acme, 1)
    _notify(acme, 2)
    assert drain.drain(budget_seconds=20).delivered == 2
    assert receiver.rejected == []
    first, second = receiver.events
    assert first["type"] == "fixops.acceptance_expired"
    assert first["data"]["title"] == "Risk acceptance 1 (CVE-2026-1) expired"
    assert first["data"]["severity"] == "high" and first["data"]["action"] == "created"
    assert first["id"] != second["id"] and first["id"].startswith("msg_")
    queued = OutboxMessage.objects.get(reference="fixops-acceptance-1").payload["ticket"]["extra"]
    assert first["timestamp"] == queued["occurred_at"]  # when it happened, not when sent


def test_webhook_id_is_stable_across_retries(acme, receiver, make_integration):
    """A delivery the receiver took but whose answer was lost is sent again with the same
    webhook-id, so the receiver drops the duplicate."""
    _routed(acme, make_integration(acme, receiver))
    receiver.drop_next(1, after_commit=True)
    _notify(acme)
    drain.drain(budget_seconds=20)
    OutboxMessage.objects.update(next_attempt_at=OutboxMessage.objects.get().created_at)
    assert drain.drain(budget_seconds=20).delivered == 1
    posts = receiver.requests_to("POST", "/hooks/fixops")
    assert len(posts) == 2
    assert posts[0].header("webhook-id") == posts[1].header("webhook-id")
    assert len(receiver.events) == 1


def test_a_wrong_secret_is_refused_by_the_receiver(acme, receiver, make_integration):
    integration = make_integration(acme, receiver)
    integration.credentials = {"signing_secret": signing.generate_secret()}
    integration.save()
    _routed(acme, integration)
    _notify(acme)
    drain.drain(budget_seconds=20)
    assert receiver.events == [] and receiver.rejected == ["no matching signature"]
    assert OutboxMessage.objects.get().status == MessageStatus.DEAD


def test_fixops_generates_the_signing_secret_and_shows_it_once(acme, receiver, acme_admin):
    answer = acme_admin.post(
        "/api/v1/integrations/",
        {
            "kind": "webhook",
            "name": "siem",
            "base_url": f"{receiver.url}/hooks/fixops",
            "credentials": {},
        },
        format="json",
    )
    assert answer.status_code == 201, answer.content
    secret = answer.json()["issued_credentials"]["signing_secret"]
    assert secret.startswith("whsec_") and len(signing.secret_key(secret)) == 32
    again = acme_admin.get(f"/api/v1/integrations/{answer.json()['id']}/").json()
    assert "issued_credentials" not in again and secret not in str(again)
    receiver.secret = secret
    result = acme_admin.post(f"/api/v1/integrations/{answer.json()['id']}/test")
    assert result.status_code == 200, result.content
    assert receiver.events[0]["type"] == "fixops.test"


def test_signatures_match_the_spec_example():
    # The example of the Standard Webhooks specification (and its reference libraries' tests).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert signing.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected


# --- e-mail (a real SMTP server on loopback) ----------------------------------------------------


def test_email_is_sent_over_starttls_with_auth(acme, settings, monkeypatch):
    with SmtpServer(starttls=True, user="fixops", password="s3cret") as smtp:
        for name, value in smtp.settings().items():
            setattr(settings, name, value)
        monkeypatch.setenv("SSL_CERT_FILE", str(smtp.ca_file))  # trust the throwaway cert
        settings.DEFAULT_FROM_EMAIL = "FixOps <fixops@acme.example>"
        integration = _routed(acme, _email(acme))
        assert "accepted the connection" in integration_test(integration=integration)
        _notify(acme)
        assert drain.drain(budget_seconds=20).delivered == 1
    [sent] = smtp.messages
    assert sent["tls"] and sent["authenticated"]
    assert sent["to"] == ["sec@acme.example", "ops@acme.example"]
    assert sent["from"] == "fixops@acme.example"
    message = sent["message"]
    assert message["Subject"] == "[FixOps acme] Risk acceptance 1 (CVE-2026-1) expired"
    assert message["X-FixOps-Reference"] == "fixops-acceptance-1"
    assert "vendor patch pending" in message.get_payload()


def test_an_untrusted_certificate_is_refused_for_good(acme, settings):
    with SmtpServer(starttls=True) as smtp:
        for name, value in smtp.settings().items():
            setattr(settings, name, value)
        _routed(acme, _email(acme))
        _notify(acme)
        drain.drain(budget_seconds=20)
    message = OutboxMessage.objects.get()
    assert message.status == MessageStatus.DEAD and "certificate" in message.last_error
    assert smtp.messages == []


def test_a_4xx_answer_is_retried_and_a_5xx_is_dead(acme, settings):
    with SmtpServer() as smtp:
        for name, value in smtp.settings().items():
            setattr(settings, name, value)
        _routed(acme, _email(acme))
        smtp.fail_next(1, "451 4.3.0 try again later")
        _notify(acme, 1)
        drain.drain(budget_seconds=20)
        message = OutboxMessage.objects.get()
        assert message.status == MessageStatus.FAILED and "451" in message.last_error
        OutboxMessage.objects.update(next_attempt_at=message.created_at)
        assert drain.drain(budget_seconds=20).delivered == 1
        smtp.fail_next(1, "550 5.7.1 relaying denied")
        _notify(acme, 2)
        drain.drain(budget_seconds=20)
    assert OutboxMessage.objects.get(reference="fixops-acceptance-2").status == MessageStatus.DEAD
    assert len(smtp.messages) == 1


def test_a_server_that_is_down_or_silent_is_retried(acme, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_USE_TLS = "127.0.0.1", False
    _routed(acme, _email(acme))
    with SilentServer() as silent:
        settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = silent.port, 0.5
        _notify(acme, 1)
        drain.drain(budget_seconds=20)
    message = OutboxMessage.objects.get()
    assert message.status == MessageStatus.FAILED and "timed out" in message.last_error.lower()
    settings.EMAIL_PORT = silent.port  # closed now: connection refused
    OutboxMessage.objects.update(next_attempt_at=message.created_at)
    drain.drain(budget_seconds=20)
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and message.attempts == 2
    with SmtpServer() as smtp:  # back up
        settings.EMAIL_PORT = smtp.port
        OutboxMessage.objects.update(next_attempt_at=message.created_at)
        assert drain.drain(budget_seconds=20).delivered == 1
    assert len(smtp.messages) == 1


def test_email_recipients_are_validated(acme):
    with pytest.raises(Invalid) as caught:
        _email(acme, recipients=("sec@acme.example", "not an address"))
    assert "not an address" in caught.value.details["settings.recipients"]


def test_the_connection_test_says_when_smtp_is_down(acme, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    with SilentServer() as silent:
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", silent.port
    integration = _email(acme)
    with pytest.raises(UpstreamFailed):
        integration_test(integration=integration)
