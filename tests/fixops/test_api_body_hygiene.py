"""JSON request bodies with U+0000 or unpaired surrogates: cleaned to U+FFFD by the default
parser (fixops/platform/api/parsers.py), so they answer 2xx or 4xx, never 500."""

from __future__ import annotations

import io
import json

import pytest
from rest_framework.exceptions import ParseError

from apps.connectors.models import Integration
from apps.findings.models import Application
from apps.policies.models import PolicyVersion
from apps.policies.services import pack
from fixops.platform.api.parsers import CleanJSONParser
from fixops.platform.errors import Invalid
from fixops.platform.text import clean_text
from tests.fakes.fixtures import *  # noqa: F403 - the fake vendor servers

pytestmark = pytest.mark.django_db
HEADER = "package fixops.gate\n\nimport rego.v1\n\n"
ALLOW_ALL = HEADER + "deny := set()\nreview := set()\nwarn := set()\n"
BAD = ["\x00", "\ud800", "\udc00", "a\x00\ud83d"]


def _raw(client, method: str, url: str, body: str | dict):
    """Send the body text exactly (escapes such as \\ud800 included); a dict is written with
    json.dumps, whose ASCII output escapes NULs and surrogates as a JSON client would."""
    text = body if isinstance(body, str) else json.dumps(body)  # ensure_ascii: escapes
    return getattr(client, method)(url, data=text.encode(), content_type="application/json")


@pytest.fixture
def approver(acme, issue_token, api_client):
    return api_client(issue_token(acme, role="approver"))


@pytest.mark.parametrize("bad", BAD)
def test_policy_parameters(approver, bad):
    created = approver.post(
        "/api/v1/policies/", {"name": "ours", "source": ALLOW_ALL}, format="json"
    )
    assert created.status_code == 201, created.content
    source, parameters = pack()
    parameters = {**parameters, "note": f"x{bad}y", "nested": [{f"k{bad}": bad}]}
    response = _raw(
        approver,
        "post",
        f"/api/v1/policies/{created.json()['id']}/versions/",
        {"source": source, "parameters": parameters, "note": "pack"},
    )
    assert response.status_code == 201, response.content
    stored = PolicyVersion.objects.get(number=response.json()["number"], policy__name="ours")
    assert stored.parameters["note"] == clean_text(f"x{bad}y")[0]
    assert stored.parameters["nested"] == [{clean_text(f"k{bad}")[0]: clean_text(bad)[0]}]


@pytest.mark.parametrize("bad", BAD)
def test_integration_settings(acme_admin, fake_jira, bad):  # noqa: F811 - pytest fixture
    config = fake_jira.config()
    body = {
        "kind": config["kind"],
        "name": "Security Jira",
        "base_url": config["base_url"],
        "credentials": config["credentials"],
        "settings": {**config["settings"], "label": f"sec{bad}"},
        "min_severity": "high",
    }
    response = _raw(acme_admin, "post", "/api/v1/integrations/", body)
    assert response.status_code == 201, response.content
    assert Integration.objects.get().settings["label"] == clean_text(f"sec{bad}")[0]


@pytest.mark.parametrize("bad", BAD)
def test_a_name_with_them_is_never_a_500(acme_admin, fake_jira, bad):  # noqa: F811
    config = fake_jira.config()
    body = {**config, "name": f"Jira{bad}", "min_severity": "high"}
    assert _raw(acme_admin, "post", "/api/v1/integrations/", body).status_code < 500


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "web\\u0000"}',
        '{"name": "web\\ud800"}',
        '{"name": "web", "owners": ["\\udc00"]}',
        '{"name": "web\\ud83d\\ude00"}',
    ],
)
def test_text_fields(acme_analyst, body):
    response = _raw(acme_analyst, "post", "/api/v1/applications/", body)
    assert response.status_code == 201, response.content
    app = Application.objects.get()
    assert "\x00" not in app.name
    assert app.name in ("web\ufffd", "web", "web\U0001f600")


def test_a_body_nested_too_deeply_is_a_400(acme_analyst):
    body = '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = _raw(acme_analyst, "post", "/api/v1/applications/", body)
    assert response.status_code == 400


def test_the_parser_cleans_keys_and_values():
    parsed = CleanJSONParser().parse(io.BytesIO(b'{"a\\u0000": ["\\ud800", 1, {"b": "ok"}]}'))
    assert parsed == {"a\ufffd": ["\ufffd", 1, {"b": "ok"}]}
    with pytest.raises(Invalid) as caught:  # measured before decoding: no RecursionError
        CleanJSONParser().parse(io.BytesIO(b"[" * 100_000))
    assert caught.value.code == "too_deep"
    assert caught.value.details == {"pointer": "/0" * 128, "limit": 128}
    with pytest.raises(ParseError):
        CleanJSONParser().parse(io.BytesIO(b"[" * 100))
