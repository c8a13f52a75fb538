"""The integration admin's form per kind: fields, labels and help from the connector's declared
schema; required fields; secrets write-only (not in the HTML, blank keeps, Clear clears);
validation errors on the fields; the "Test connection" button against the fake vendors
(success, rejected credentials, a missing project, a timeout, an SSRF refusal), audited."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

from apps.connectors.models import Integration
from apps.connectors.registry import KINDS, connector_class
from apps.connectors.schema import CREDENTIALS, describe
from fixops.platform.models import AuditEvent
from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

ADD = "/admin/connectors/integration/add/"
FAKES = ["jira", "servicenow", "gitlab", "github", "azure_devops", "slack", "confluence"]


@pytest.fixture
def staff(alice):
    alice.is_staff = True
    alice.save()
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture(params=FAKES)
def fake(request):
    return request.getfixturevalue(f"fake_{request.param}")


def _post(fake, acme, **overrides) -> dict:
    config = fake.config()
    data = {
        "tenant": acme.pk,
        "name": f"acme-{config['kind']}",
        "base_url": config["base_url"],
        "min_severity": "high",
        "min_risk": "",
        "grouping": "finding",
        "templates": "{}",
        "enabled": "on",
    }
    for key, value in config["credentials"].items():
        data[f"credentials__{key}"] = value
    for key, value in config["settings"].items():
        data[f"settings__{key}"] = ", ".join(value) if isinstance(value, list) else value
    return {**data, **overrides}


def _secrets(config: dict) -> list[str]:
    fields = connector_class(config["kind"]).fields
    names = {f.name for f in fields if f.secret}
    return [v for k, v in config["credentials"].items() if k in names]


def _messages(response) -> list[tuple[str, str]]:
    return re.findall(r'<li class="(\w+)">(.*?)</li>', response.content.decode(), re.S)


def test_every_kind_declares_what_it_reads():
    """The declared schema is the one source: every setting a vendor package reads is in it."""
    for kind in KINDS:
        cls = connector_class(kind)
        declared = {f.name for f in cls.fields}
        package = cls.__module__.rsplit(".", 1)[0].replace(".", "/")
        source = "".join(Path(f"{package}/{name}.py").read_text() for name in ("client", "mapping"))
        read = set(re.findall(r'settings(?:\.get\(|\[)"(\w+)"', source))
        read |= set(re.findall(r'credentials(?:\.get\(|\[)"(\w+)"', source))
        assert read <= declared, (kind, read - declared)
        for sets in cls.credential_sets:
            assert set(sets) <= {f.name for f in cls.fields if f.where == CREDENTIALS}
        assert all(d["label"] and d["type"] for d in describe(cls.fields))


def test_adding_asks_for_the_vendor_first(staff):
    page = staff.get(ADD).content.decode()
    for kind in KINDS:
        assert f'href="{ADD}?kind={kind}"' in page and f'id="add-{kind}"' in page


def test_form_per_kind_creates_keeps_and_clears(staff, acme, fake):
    config = fake.config()
    kind = config["kind"]
    form = staff.get(f"{ADD}?kind={kind}").content.decode()
    for spec in connector_class(kind).fields:
        assert f'name="{spec.where}__{spec.name}"' in form, spec.name
        assert spec.label in form
    required = [f for f in connector_class(kind).fields if f.required]
    for spec in required:
        assert re.search(rf'name="settings__{spec.name}"[^>]*required', form), spec.name

    response = staff.post(f"{ADD}?kind={kind}", _post(fake, acme))
    assert response.status_code == 302, _messages(response) or response.content.decode()[-3000:]
    created = Integration.objects.get(name=f"acme-{kind}")
    assert created.kind == kind
    assert created.credentials == config["credentials"]
    assert created.settings == config["settings"]

    change = f"/admin/connectors/integration/{created.pk}/change/"
    page = staff.get(change).content.decode()
    for value in _secrets(config):
        assert value not in page  # write-only: never rendered back
    assert 'id="test-connection"' in page
    # Blank secrets keep the stored ones.
    blank = {f"credentials__{name}": "" for name in config["credentials"]}
    secrets = _secrets(config)
    non_secret = {
        f"credentials__{k}": v for k, v in config["credentials"].items() if v not in secrets
    }
    data = _post(fake, acme, min_severity="critical", **{**blank, **non_secret})
    response = staff.post(change, data)
    assert response.status_code == 302, _messages(response)
    created.refresh_from_db()
    assert created.min_severity == "critical" and created.credentials == config["credentials"]


def test_clear_removes_a_stored_secret(staff, acme, fake_slack):
    config = fake_slack.config()
    staff.post(f"{ADD}?kind=slack", _post(fake_slack, acme))
    slack = Integration.objects.get(name="acme-slack")
    change = f"/admin/connectors/integration/{slack.pk}/change/"
    assert 'name="credentials__bot_token__clear"' in staff.get(change).content.decode()
    webhook = fake_slack.config(webhook=True)["credentials"]["webhook_url"]
    response = staff.post(
        change,
        _post(
            fake_slack,
            acme,
            credentials__bot_token="",
            credentials__bot_token__clear="on",
            credentials__webhook_url=webhook,
            settings__channel="",
        ),
    )
    assert response.status_code == 302, _messages(response)
    slack.refresh_from_db()
    assert slack.credentials == {"webhook_url": webhook}
    assert "channel" not in slack.settings
    # Clearing the only credential is refused, on the form, and changes nothing.
    response = staff.post(
        change,
        _post(
            fake_slack,
            acme,
            credentials__bot_token="",
            credentials__webhook_url="",
            credentials__webhook_url__clear="on",
            settings__channel="",
        ),
    )
    assert response.status_code == 200
    assert "slack needs {bot_token} or {webhook_url}" in response.content.decode()
    slack.refresh_from_db()
    assert slack.credentials == {"webhook_url": webhook} != config["credentials"]


def test_errors_land_on_their_fields(staff, acme, fake_github, fake_slack):
    response = staff.post(
        f"{ADD}?kind=github",
        _post(fake_github, acme, settings__repository="not a repo", credentials__token=""),
    )
    page = response.content.decode()
    assert response.status_code == 200
    error = r'errorlist[^>]*id="id_settings__repository_error"[^>]*>.*must look like'
    assert re.search(error, page)
    assert re.search(r'id="id_credentials__token_error"', page)  # required
    data = _post(fake_slack, acme, settings__history_pages="99")
    response = staff.post(f"{ADD}?kind=slack", data)
    assert "Ensure this value is less than or equal to 50" in response.content.decode()
    assert not Integration.objects.exists()


def test_analysts_cannot_edit_integrations(acme, fake_jira, make_integration):
    jira = make_integration(acme, fake_jira, name="acme-jira")
    user = UserFactory(username="ann", is_staff=True)
    MembershipFactory(user=user, tenant=acme, role="analyst")
    client = Client()
    client.force_login(user)
    page = client.get(f"/admin/connectors/integration/{jira.pk}/change/")
    assert page.status_code == 200 and 'id="test-connection"' not in page.content.decode()
    assert client.get(f"{ADD}?kind=jira").status_code == 403
    response = client.post(f"/admin/connectors/integration/{jira.pk}/test/")
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="integration.test").exists()


def _test(staff, integration):
    return _messages(
        staff.post(f"/admin/connectors/integration/{integration.pk}/test/", follow=True)
    )


def test_connection_button_against_every_vendor(staff, acme, fake, make_integration):
    integration = make_integration(acme, fake, name="tested")
    shown = _test(staff, integration)
    assert shown and shown[0][0] == "success", shown
    assert "works:" in shown[0][1]
    event = AuditEvent.objects.get(action="integration.test")
    assert event.actor == "user:alice" and event.after["ok"] is True
    # Rejected credentials: the vendor's answer, as an error.
    wrong = {k: f"wrong-{v}" for k, v in integration.credentials.items()}
    Integration.objects.filter(pk=integration.pk).update(credentials_token=b"")
    integration.refresh_from_db()
    integration.credentials = wrong
    integration.save()
    shown = _test(staff, integration)
    assert shown[0][0] == "error" and "credentials rejected" in shown[0][1], shown
    for value in wrong.values():
        if value.startswith("wrong-") and len(value) > 10 and "@" not in value:
            assert value not in str(shown)  # secrets are scrubbed from what is shown
    failed = AuditEvent.objects.filter(action="integration.test").order_by("-seq").first()
    assert failed.after["ok"] is False


def test_connection_failures_are_named(staff, acme, fake_gitlab, make_integration, settings):
    gitlab = make_integration(acme, fake_gitlab, name="gl")
    # A project that does not exist: the vendor's 404.
    Integration.objects.filter(pk=gitlab.pk).update(settings={"project": "acme/missing"})
    shown = _test(staff, Integration.objects.get(pk=gitlab.pk))
    assert shown[0][0] == "error" and "404" in shown[0][1], shown
    # A vendor too slow to answer within FIXOPS_CONNECTION_TEST_SECONDS.
    Integration.objects.filter(pk=gitlab.pk).update(settings={"project": fake_gitlab.project_path})
    settings.FIXOPS_CONNECTION_TEST_SECONDS = 0.5
    fake_gitlab.delay(1.5, n=1)
    shown = _test(staff, gitlab)
    assert shown[0][0] == "error" and "no answer" in shown[0][1] and "0.5s" in shown[0][1], shown
    # The SSRF guard refuses the destination at call time (the allowlist no longer has it).
    settings.FIXOPS_OUTBOUND_ALLOWLIST = []
    shown = _test(staff, gitlab)
    assert shown[0][0] == "error" and "SSRF" in shown[0][1], shown
    statuses = list(
        AuditEvent.objects.filter(action="integration.test")
        .order_by("seq")
        .values_list("after__vendor_status", flat=True)
    )
    assert statuses[0] == 404


def test_api_test_is_audited_with_the_token(acme_admin, acme, fake_servicenow, make_integration):
    servicenow = make_integration(acme, fake_servicenow, name="snow")
    response = acme_admin.post(f"/api/v1/integrations/{servicenow.pk}/test/")
    assert response.status_code == 200 and response.json()["ok"] is True
    event = AuditEvent.objects.get(action="integration.test")
    assert event.actor.startswith("token:") and event.after["ok"] is True


def test_every_problem_shows_at_once(staff, acme, fake_jira):
    response = staff.post(
        f"{ADD}?kind=jira",
        _post(fake_jira, acme, base_url="", settings__project_key="", templates='{"x": "y"}'),
    )
    page = response.content.decode()
    assert response.status_code == 200
    for field in ("base_url", "settings__project_key", "templates"):
        assert f'id="id_{field}_error"' in page, field
