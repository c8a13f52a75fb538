"""The admin's sections: the analyst's apps in the order of the work, the operator tables in
one System section that only superusers see or reach."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import Client
from django.test.utils import override_script_prefix
from django.urls import reverse

from apps.workspace.site import is_system_model
from tests.tenants.factories import MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

ANALYST_SECTIONS = [
    "Findings",
    "Decisions and policies",
    "Evidence and audit",
    "Integrations",
    "Vulnerability intelligence",
    "Tenants and access",
    "AI advisory",
]
SYSTEM_PAGES = [
    "auth_user",
    "auth_group",
    "django_celery_beat_periodictask",
    "otp_totp_totpdevice",
    "otp_static_staticdevice",
    "axes_accessattempt",
    "axes_accesslog",
    "fixops_heartbeat",
    "tenants_ssoidentity",
]


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _sections(page: str) -> list[str]:
    return re.findall(r'class="section" title="[^"]*">([^<]+)</a>', page)


@pytest.fixture
def tenant_admin():
    tenant = TenantFactory(slug="acme", name="Acme")
    user = UserFactory(username="alice", is_staff=True)
    MembershipFactory(user=user, tenant=tenant, role="admin")
    return user


def test_superuser_sees_the_analyst_sections_in_order_then_system():
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    page = _client(root).get(reverse("admin:index")).content.decode()
    assert _sections(page) == [*ANALYST_SECTIONS, "System"]
    system = page[page.index(">System</a>") :]
    for name in ("Users", "Periodic tasks", "TOTP devices", "Access attempts", "Heartbeats"):
        assert name in system, name
    analyst = page[: page.index(">System</a>")]
    for name in ("Periodic tasks", "TOTP devices", "Access attempts", "Heartbeats", ">Users<"):
        assert name not in analyst, f"{name} sits between the analyst's pages"
    # The tenant-scoped audit log stays with evidence, where tenant admins find it.
    evidence = page[page.index(">Evidence and audit</a>") : page.index(">Integrations</a>")]
    assert "Audit events" in evidence


def test_tenant_admin_sees_no_system_section(tenant_admin):
    page = _client(tenant_admin).get(reverse("admin:index")).content.decode()
    sections = _sections(page)
    assert "System" not in sections
    assert sections == [s for s in ANALYST_SECTIONS if s in sections]
    assert {"Findings", "Decisions and policies", "Evidence and audit"} <= set(sections)
    for name in ("Periodic tasks", "TOTP devices", "Access attempts", "Heartbeats"):
        assert name not in page


@pytest.mark.parametrize("page", SYSTEM_PAGES)
def test_system_pages_are_superuser_only_even_with_django_permissions(tenant_admin, page):
    """A non-superuser granted the model's Django permissions still gets 403 by URL."""
    app_label, _, model = page.partition("_")
    if page.startswith("django_celery_beat"):
        app_label, model = "django_celery_beat", page.removeprefix("django_celery_beat_")
    if page.startswith("otp_"):
        app_label, model = page.rsplit("_", 1)
    tenant_admin.user_permissions.add(
        *Permission.objects.filter(content_type__app_label=app_label, content_type__model=model)
    )
    client = _client(tenant_admin)
    assert client.get(reverse(f"admin:{page}_changelist")).status_code == 403
    assert client.get(reverse(f"admin:{page}_add")).status_code == 403
    link = f'href="{reverse(f"admin:{page}_changelist")}"'
    app_index = client.get(reverse("admin:app_list", args=[app_label]))
    if app_label == "tenants":  # an app with analyst pages too
        assert app_index.status_code == 200 and link not in app_index.content.decode()
    else:
        assert app_index.status_code == 404
    assert link not in client.get(reverse("admin:index")).content.decode()
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    assert _client(root).get(reverse(f"admin:{page}_changelist")).status_code == 200


def test_every_registered_model_is_in_one_section():
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    page = _client(root).get(reverse("admin:index")).content.decode()
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert page.count(f'href="{url}"') >= 1, model._meta.label
        if is_system_model(model):
            assert page.index(f'href="{url}"') > page.index(">System</a>"), model._meta.label


def _django_app_list(request, app_label=None) -> list[dict]:
    """Django's own app list for this site, for comparison with the workspace's."""
    return admin.AdminSite.get_app_list(admin.site, request, app_label)


@pytest.mark.parametrize("app_label", [None, "findings", "tenants", "auth"])
def test_the_app_list_is_djangos_less_the_system_models(rf, tenant_admin, app_label):
    """The workspace builds Django's list itself (memoised URLs, no permission checks on the
    System models for non-superusers): the same entries, URLs and permissions as Django's."""
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    for user in (root, tenant_admin):
        request = rf.get("/admin/")
        request.user, request.session = user, {}
        ours = admin.site._apps(request, app_label)
        expected = [
            {**app, "models": [m for m in app["models"] if not is_system_model(m["model"])]}
            for app in _django_app_list(request, app_label)
        ]
        if user.is_superuser:
            expected = _django_app_list(request, app_label)
        expected = [app for app in expected if app["models"]]
        assert ours == expected, user.username
    assert ours or app_label == "auth"  # the tenant admin sees findings and tenants pages


def test_sidebar_links_follow_the_script_prefix(tenant_admin):
    """The memoised URLs are kept per script prefix: FixOps served under /fixops/ links there."""
    client, index = _client(tenant_admin), reverse("admin:index")
    plain = client.get(index).content.decode()
    changelist = reverse("admin:findings_finding_changelist")
    assert f'href="{changelist}"' in plain
    with override_script_prefix("/fixops/"):
        prefixed = client.get(index).content.decode()
    assert f'href="/fixops{changelist}"' in prefixed
    assert f'href="{changelist}"' not in prefixed
    assert f'href="{changelist}"' in client.get(index).content.decode()
