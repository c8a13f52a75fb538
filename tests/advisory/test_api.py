"""The providers, usage, settings and schema endpoints: admin-only configuration, a write-only
API key, SSRF-checked base URLs, the data-sharing acceptance, audit, and another tenant's
rows answering 404."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.advisory import services
from apps.advisory.models import AdvisorySettings, Provider
from fixops.platform.models import AuditEvent

pytestmark = pytest.mark.django_db

PROVIDERS = "/api/v1/advisory/providers/"
SETTINGS = "/api/v1/advisory/settings/"


def _body(fake, **overrides):
    return {**fake.provider_fields(), **overrides}


def test_admin_configures_a_provider_and_the_key_is_never_returned(acme, acme_admin, fake_openai):
    created = acme_admin.post(PROVIDERS, _body(fake_openai, weight=2), format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["has_api_key"] is True and "api_key" not in data
    assert fake_openai.api_key not in created.content.decode()
    provider = Provider.objects.get(pk=data["id"])
    assert provider.api_key == fake_openai.api_key
    assert fake_openai.api_key.encode() not in bytes(provider.api_key_token)  # encrypted
    assert (provider.kind, provider.weight, provider.tenant_id) == ("openai", 2.0, acme.pk)

    listed = acme_admin.get(PROVIDERS).json()
    assert [p["name"] for p in listed["results"]] == ["fake-openai"]
    assert fake_openai.api_key not in str(listed)


def test_patch_keeps_the_key_unless_given(acme, acme_admin, fake_anthropic):
    pk = acme_admin.post(PROVIDERS, _body(fake_anthropic), format="json").json()["id"]
    url = f"{PROVIDERS}{pk}/"
    assert acme_admin.patch(url, {"timeout": 30}, format="json").status_code == 200
    assert Provider.objects.get(pk=pk).api_key == fake_anthropic.api_key
    assert acme_admin.patch(url, {"api_key": "rotated"}, format="json").status_code == 200
    assert Provider.objects.get(pk=pk).api_key == "rotated"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/v1",  # cloud metadata
        "http://10.0.0.8/v1",  # private
        "file:///etc/passwd",
    ],
)
def test_base_url_is_ssrf_checked(acme_admin, fake_openai, url):
    response = acme_admin.post(PROVIDERS, _body(fake_openai, base_url=url), format="json")
    assert response.status_code == 400
    assert "base_url" in response.json()["error"]["details"]
    assert not Provider.objects.exists()


def test_fields_are_validated(acme_admin, fake_openai):
    response = acme_admin.post(
        PROVIDERS, _body(fake_openai, kind="bard", weight=0, timeout=0), format="json"
    )
    assert response.status_code == 400
    assert {"kind", "weight", "timeout"} <= set(response.json()["error"]["details"])


def test_duplicate_name_conflicts(acme_admin, fake_openai):
    assert acme_admin.post(PROVIDERS, _body(fake_openai), format="json").status_code == 201
    assert acme_admin.post(PROVIDERS, _body(fake_openai), format="json").status_code == 409


def test_only_admins_see_or_change_providers(acme_analyst, acme_viewer, fake_openai):
    for client in (acme_analyst, acme_viewer):
        assert client.get(PROVIDERS).status_code == 403
        assert client.post(PROVIDERS, _body(fake_openai), format="json").status_code == 403


def test_another_tenants_provider_is_not_found(acme, globex_admin, make_provider, fake_openai):
    provider = make_provider(acme, fake_openai)
    url = f"{PROVIDERS}{provider.pk}/"
    assert globex_admin.get(url).status_code == 404
    assert globex_admin.patch(url, {"weight": 3}, format="json").status_code == 404
    assert globex_admin.delete(url).status_code == 404
    assert globex_admin.get(PROVIDERS).json()["results"] == []
    provider.refresh_from_db()
    assert provider.weight == 1.0


def test_provider_changes_are_audited_without_the_key(acme, acme_admin, fake_gemini):
    pk = acme_admin.post(PROVIDERS, _body(fake_gemini), format="json").json()["id"]
    acme_admin.patch(f"{PROVIDERS}{pk}/", {"api_key": "rotated-secret"}, format="json")
    acme_admin.delete(f"{PROVIDERS}{pk}/")
    rows = AuditEvent.objects.filter(tenant_id=acme.pk, target_type="advisory.provider")
    assert [r.action for r in rows.order_by("seq")] == [
        "advisory.provider.create",
        "advisory.provider.update",
        "advisory.provider.delete",
    ]
    stored = str(list(rows.values_list("before", "after")))
    assert fake_gemini.api_key not in stored and "rotated-secret" not in stored
    assert "api_key" in str(rows.get(action="advisory.provider.update").after["fields"])


def test_settings_default_off_and_show_the_notice(acme, acme_viewer):
    data = acme_viewer.get(SETTINGS).json()
    assert data["enabled"] is False and data["available"] is False
    assert data["consensus_threshold"] == 0.85
    assert data["data_sharing_accepted"] is False
    assert "[REDACTED:<rule>]" in data["data_sharing_notice"]
    assert acme_viewer.patch(SETTINGS, {"enabled": True}, format="json").status_code == 403


def test_enabling_needs_the_notice_accepted_by_a_person(acme, alice, acme_admin):
    refused = acme_admin.patch(SETTINGS, {"enabled": True}, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "data_sharing_not_accepted"
    # A token is not a person: it cannot accept on anyone's behalf.
    by_token = acme_admin.patch(SETTINGS, {"accept_data_sharing": True}, format="json")
    assert by_token.status_code == 400

    session = Client()
    session.force_login(alice)
    accepted = session.patch(
        SETTINGS,
        {"accept_data_sharing": True, "enabled": True, "consensus_threshold": 0.9},
        content_type="application/json",
    )
    assert accepted.status_code == 200, accepted.content
    data = accepted.json()
    assert data["enabled"] is True and data["data_sharing_accepted_by"] == "alice"
    assert data["data_sharing_accepted_at"] and data["consensus_threshold"] == 0.9
    row = AuditEvent.objects.get(tenant_id=acme.pk, action="advisory.settings.update")
    assert row.after["enabled"] is True and row.before["enabled"] is False

    withdrawn = acme_admin.patch(SETTINGS, {"accept_data_sharing": False}, format="json")
    assert (
        withdrawn.json()["enabled"] is False and withdrawn.json()["data_sharing_accepted"] is False
    )


def test_available_needs_enabled_settings_and_an_enabled_provider(
    acme, alice, make_provider, fake_openai
):
    assert services.available(acme) is False
    provider = make_provider(acme, fake_openai)
    assert services.available(acme) is False  # configured, not enabled
    services.settings_update(tenant=acme, user=alice, accept_data_sharing=True, enabled=True)
    assert services.available(acme) is True
    services.provider_update(provider=provider, enabled=False)
    assert services.available(acme) is False
    assert AdvisorySettings.objects.filter(tenant=acme).count() == 1


def test_schemas_are_published(acme_viewer):
    triage = acme_viewer.get("/api/v1/advisory/schemas/triage/").json()
    brief = acme_viewer.get("/api/v1/advisory/schemas/brief/").json()
    assert triage["properties"]["suggested_severity"]["enum"] == [
        "critical",
        "high",
        "medium",
        "low",
        "info",
    ]
    assert triage["properties"]["confidence"]["x-consensus"] == {"tolerance": 0.2}
    assert "smallest_change" in brief["required"]


def test_usage_lists_tokens_cost_and_skips(acme, acme_admin, make_provider, fake_openai):
    provider = make_provider(acme, fake_openai, daily_token_budget=10)
    services.usage_record(provider=provider, tokens_in=8, tokens_out=4, cost=1)
    services.usage_record(provider=provider, skipped_over_budget=True)
    [row] = acme_admin.get("/api/v1/advisory/usage/").json()["results"]
    assert (row["tokens_in"], row["tokens_out"], row["calls"], row["skipped_over_budget"]) == (
        8,
        4,
        1,
        1,
    )
    assert row["daily_token_budget"] == 10 and float(row["cost"]) == 1.0


def test_token_scopes_narrow_advisory_access(acme, issue_token, api_client):
    reader = api_client(issue_token(acme, role="admin", scopes=["advisory:read"]))
    other = api_client(issue_token(acme, role="admin", name="ci", scopes=["scans:*"]))

    assert reader.get(SETTINGS).status_code == 200
    assert reader.get(PROVIDERS).status_code == 200
    assert reader.patch(SETTINGS, {"consensus_threshold": 0.9}, format="json").status_code == 403
    assert other.get(SETTINGS).status_code == 403
