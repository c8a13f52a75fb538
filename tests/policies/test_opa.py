"""An external OPA server decides with the same input and result document as the in-process
engine; when it cannot answer, the gate closes."""

from __future__ import annotations

import pytest

from apps.pipeline.gate import decision_make
from apps.policies import opa
from apps.policies.admin import PolicySettingsForm
from apps.policies.models import PolicySettings
from tests.fakes.opa import FakeOpa
from tests.findings.factories import ApplicationFactory, FindingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_opa():
    opa.forget()
    with FakeOpa() as server:
        yield server
    opa.forget()


@pytest.fixture
def exposed_app(acme):
    app = ApplicationFactory(tenant=acme, internet_exposed=True)
    FindingFactory(tenant=acme, application=app, kind="sca", kev=True, epss=0.8, severity="high")
    FindingFactory(tenant=acme, application=app, kind="secret", severity="high")
    return app


def test_opa_and_regopy_agree(acme, exposed_app, fake_opa):
    local = decision_make(tenant=acme, application=exposed_app)
    PolicySettings.objects.create(tenant=acme, opa_url=fake_opa.url)
    remote = decision_make(tenant=acme, application=exposed_app)
    assert remote.engine == "opa" and local.engine == "regopy"
    assert remote.outcome == local.outcome == "BLOCK"
    assert remote.reasons == local.reasons
    # The module and its parameters were uploaded once, then only queried.
    assert len(fake_opa.requests_to("PUT", r"/v1/policies/.*")) == 1
    decision_make(tenant=acme, application=exposed_app)
    assert len(fake_opa.requests_to("PUT", r"/v1/policies/.*")) == 1
    assert len(fake_opa.requests_to("POST", r"/v1/data/fixops/gate")) == 2


def test_restarted_opa_gets_the_policy_again(acme, exposed_app, fake_opa):
    PolicySettings.objects.create(tenant=acme, opa_url=fake_opa.url)
    decision_make(tenant=acme, application=exposed_app)
    fake_opa.reset_state()  # a restart loses uploaded policies
    assert decision_make(tenant=acme, application=exposed_app).outcome == "BLOCK"
    assert len(fake_opa.requests_to("PUT", r"/v1/policies/.*")) == 2


@pytest.mark.parametrize("fault", ["down", "fail"])
def test_unavailable_opa_closes_the_gate(acme, fake_opa, fault):
    app = ApplicationFactory(tenant=acme)  # no findings: regopy would ALLOW
    PolicySettings.objects.create(tenant=acme, opa_url=fake_opa.url)
    if fault == "down":
        fake_opa.down()
    else:
        fake_opa.fail_next(1, 500)
    decision = decision_make(tenant=acme, application=app)
    assert decision.outcome == "BLOCK"
    assert decision.reasons[0]["rule"] == "FX-ENGINE-ERROR"
    assert "OPA answered" in decision.error


def test_unreachable_opa_closes_the_gate(acme):
    app = ApplicationFactory(tenant=acme)
    PolicySettings.objects.create(tenant=acme, opa_url="http://127.0.0.1:9")
    decision = decision_make(tenant=acme, application=app)
    assert decision.outcome == "BLOCK"
    assert "unreachable" in decision.error


def test_opa_url_passes_the_outbound_guard(acme):
    """A tenant cannot aim the gate at the cloud metadata service or a private address."""
    app = ApplicationFactory(tenant=acme)
    PolicySettings.objects.create(tenant=acme, opa_url="http://169.254.169.254/latest")
    decision = decision_make(tenant=acme, application=app)
    assert decision.outcome == "BLOCK"
    assert "refused by the outbound guard" in decision.error


def test_admin_form_refuses_an_unsafe_opa_url(acme):
    form = PolicySettingsForm(
        data={
            "tenant": acme.pk,
            "opa_url": "http://10.0.0.8:8181",
            "sla_days": "{}",
            "max_acceptance_days": 90,
            "expected_kinds": "[]",
            "feed_max_age_hours": 48,
        }
    )
    assert not form.is_valid()
    assert "opa_url" in form.errors


def test_a_failing_opa_trips_its_breaker(acme, fake_opa, settings):
    """After repeated failures the gate closes without waiting on the server again."""
    settings.FIXOPS_BREAKER_THRESHOLD = 2
    app = ApplicationFactory(tenant=acme)
    PolicySettings.objects.create(tenant=acme, opa_url=fake_opa.url)
    fake_opa.down()
    for _ in range(2):
        assert decision_make(tenant=acme, application=app).outcome == "BLOCK"
    seen = len(fake_opa.requests)
    decision = decision_make(tenant=acme, application=app)
    assert decision.outcome == "BLOCK" and "circuit breaker open" in decision.error
    assert len(fake_opa.requests) == seen
