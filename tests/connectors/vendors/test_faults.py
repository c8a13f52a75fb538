"""The shared error contract, checked against every vendor fake: rejected credentials, 429 with
Retry-After, 5xx, dropped connections (before and after the vendor applied the request),
timeouts, a vendor that is down, and find-before-create after an unknown outcome."""

from __future__ import annotations

import pytest

from apps.connectors.base import Ticket
from apps.connectors.registry import KINDS, connector_for
from fixops.platform.http.errors import PermanentError, TransientError
from tests.fakes.azure_devops import FakeAzureDevOps
from tests.fakes.confluence import FakeConfluence
from tests.fakes.fixtures import connector
from tests.fakes.github import FakeGitHub
from tests.fakes.gitlab import FakeGitLab
from tests.fakes.jira import FakeJira
from tests.fakes.servicenow import FakeServiceNow
from tests.fakes.slack import FakeSlack

FAKES = {
    "jira-cloud": lambda: FakeJira(deployment="cloud"),
    "jira-dc": lambda: FakeJira(deployment="datacenter"),
    "servicenow": FakeServiceNow,
    "gitlab": FakeGitLab,
    "github": FakeGitHub,
    "azure_devops": FakeAzureDevOps,
    "slack": FakeSlack,
    "confluence-cloud": lambda: FakeConfluence(deployment="cloud"),
    "confluence-dc": lambda: FakeConfluence(deployment="datacenter"),
}


TICKET = Ticket(reference="fixops-f-500", title="Outage drill", body="body", severity="high")


@pytest.fixture(params=sorted(FAKES))
def fake(request):
    with FAKES[request.param]() as fake:
        yield fake


def test_test_connection_succeeds(fake):
    assert connector(fake).test_connection()


def test_wrong_credentials_are_permanent_and_named(fake):
    cfg = fake.config()
    wrong = {k: f"wrong-{v}" for k, v in cfg["credentials"].items()}
    bad = connector_for(
        cfg["kind"], base_url=cfg["base_url"], credentials=wrong, settings=cfg["settings"]
    )
    with pytest.raises(PermanentError, match="credentials rejected") as err:
        bad.test_connection()
    assert err.value.permanent
    with pytest.raises(PermanentError, match="credentials rejected"):
        bad.create(TICKET)
    assert fake.with_reference(TICKET.reference) == []


def test_429_is_transient_with_retry_after(fake):
    fake.fail_next(1, 429, retry_after=17)
    with pytest.raises(TransientError) as err:
        connector(fake).create(TICKET)
    assert err.value.status == 429 and err.value.retry_after == 17 and not err.value.permanent
    assert fake.with_reference(TICKET.reference) == []
    assert connector(fake).create(TICKET)  # the next attempt goes through


def test_retry_after_as_http_date(fake):
    fake.fail_next(1, 503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    with pytest.raises(TransientError) as err:
        connector(fake).create(TICKET)
    assert err.value.status == 503 and err.value.retry_after == 0.0  # a date in the past


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 409])
def test_server_errors_are_transient(fake, status):
    fake.fail_next(1, status)
    with pytest.raises(TransientError, match=f"HTTP {status}") as err:
        connector(fake).create(TICKET)
    assert err.value.status == status


def test_dropped_connection_is_transient(fake):
    fake.drop_next(1)
    with pytest.raises(TransientError, match="outcome unknown"):
        connector(fake).create(TICKET)
    assert fake.with_reference(TICKET.reference) == []


def test_commit_then_drop_is_found_before_recreating(fake):
    """The ambiguous create: the vendor applied it, the answer never came back."""
    conn = connector(fake)
    fake.drop_next(1, after_commit=True)
    with pytest.raises(TransientError):
        conn.create(TICKET)
    assert len(fake.with_reference(TICKET.reference)) == 1
    found = conn.find_by_reference(TICKET.reference)
    assert found is not None  # the outbox updates this one instead of creating a second
    assert len(fake.with_reference(TICKET.reference)) == 1


def test_slow_vendor_times_out(fake):
    fake.delay(1.5, n=1)
    with pytest.raises(TransientError, match="no answer .* within 0.5s"):
        connector(fake, timeout=(1.0, 0.5)).test_connection()


def test_vendor_down_and_back(fake):
    conn = connector(fake)
    fake.down()
    with pytest.raises(TransientError, match="HTTP 503"):
        conn.create(TICKET)
    fake.down(refuse=True)
    with pytest.raises(TransientError, match="connection to .* failed"):
        conn.create(TICKET)
    fake.up()
    assert conn.create(TICKET)
    assert len(fake.with_reference(TICKET.reference)) == 1


def test_connection_to_a_private_address_is_refused(fake, settings):
    settings.FIXOPS_OUTBOUND_ALLOWLIST = []
    with pytest.raises(PermanentError, match="SSRF guard.*127.0.0.1 is a loopback address"):
        connector(fake).create(TICKET)
    assert fake.requests == []


# The post-only notification channels have their own fakes and contract tests (a real SMTP
# server for e-mail): tests/connectors/test_notify_channels.py.
NOTIFICATION_CHANNELS = {"teams", "email", "webhook"}


def test_every_registered_kind_has_a_fake():
    assert {name.split("-")[0] for name in FAKES} | NOTIFICATION_CHANNELS == set(KINDS)
