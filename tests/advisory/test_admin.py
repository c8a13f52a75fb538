"""The advisory admin: the provider form keeps the API key write-only (not in the HTML, blank
keeps, clear removes) and validates like the API; settings need the notice accepted before
enabling and record who accepted; usage is read-only. Every change is audited."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.advisory.models import AdvisorySettings, Provider, TokenUsage
from fixops.platform.models import AuditEvent

pytestmark = pytest.mark.django_db

ADD = "/admin/advisory/provider/add/"


@pytest.fixture
def staff(alice):
    alice.is_staff = True
    alice.save()
    client = Client()
    client.force_login(alice)
    return client


def _form(fake, acme, **overrides) -> dict:
    return {
        "tenant": acme.pk,
        "name": "acme-openai",
        "kind": fake.kind,
        "base_url": fake.base_url,
        "model": fake.model,
        "api_key": fake.api_key,
        "weight": "1",
        "timeout": "60",
        "daily_token_budget": "100000",
        "price_in_per_1k": "0.0025",
        "price_out_per_1k": "0.01",
        "enabled": "on",
        **overrides,
    }


def test_add_and_change_keep_the_key_write_only(staff, acme, fake_openai):
    response = staff.post(ADD, _form(fake_openai, acme))
    assert response.status_code == 302, response.content.decode()[:2000]
    provider = Provider.objects.get(tenant=acme)
    assert provider.api_key == fake_openai.api_key

    change = f"/admin/advisory/provider/{provider.pk}/change/"
    page = staff.get(change).content.decode()
    assert fake_openai.api_key not in page

    assert staff.post(change, _form(fake_openai, acme, api_key="", weight="3")).status_code == 302
    provider.refresh_from_db()
    assert provider.api_key == fake_openai.api_key and provider.weight == 3

    assert (
        staff.post(change, _form(fake_openai, acme, api_key="", clear_api_key="on")).status_code
        == 302
    )
    provider.refresh_from_db()
    assert provider.api_key == ""
    actions = list(
        AuditEvent.objects.filter(tenant_id=acme.pk, target_type="advisory.provider")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions[:3] == [
        "advisory.provider.create",
        "advisory.provider.update",
        "advisory.provider.update",
    ]


def test_an_unsafe_base_url_is_refused_on_the_field(staff, acme, fake_openai):
    response = staff.post(ADD, _form(fake_openai, acme, base_url="http://169.254.169.254/v1"))
    assert response.status_code == 200
    assert "base_url" in response.context["adminform"].form.errors
    assert not Provider.objects.exists()


def test_settings_record_who_accepted_the_notice(staff, acme, alice):
    add = "/admin/advisory/advisorysettings/add/"
    page = staff.get(add).content.decode()
    assert "Secrets are replaced by [REDACTED:&lt;rule&gt;]" in page

    refused = staff.post(add, {"tenant": acme.pk, "enabled": "on", "consensus_threshold": "0.85"})
    assert refused.status_code == 200 and not AdvisorySettings.objects.exists()

    accepted = staff.post(
        add,
        {
            "tenant": acme.pk,
            "enabled": "on",
            "accept_data_sharing": "on",
            "consensus_threshold": "0.9",
        },
    )
    assert accepted.status_code == 302, accepted.content.decode()[:2000]
    row = AdvisorySettings.objects.get(tenant=acme)
    assert row.enabled and row.consensus_threshold == 0.9
    assert row.data_sharing_accepted_by == alice and row.data_sharing_accepted_at
    assert AuditEvent.objects.filter(action="advisory.settings.update", tenant_id=acme.pk).exists()


def test_usage_is_read_only(staff, acme, make_provider, fake_openai):
    provider = make_provider(acme, fake_openai)
    usage = TokenUsage.objects.create(tenant=acme, provider=provider, day="2026-12-06", tokens_in=5)
    assert staff.get("/admin/advisory/tokenusage/").status_code == 200
    assert staff.get("/admin/advisory/tokenusage/add/").status_code == 403
    assert (
        staff.post(f"/admin/advisory/tokenusage/{usage.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
