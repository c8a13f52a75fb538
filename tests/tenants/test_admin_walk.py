"""The admin route walk: signed in as one tenant's staff, open every admin page and find no
other tenant's name, slug or object on any of them.

Like the API matrix (tests/tenants/test_matrix.py), the pages come from the code: every
ModelAdmin registered on `admin.site` and every admin URL, checked against the registry in
tests/tenants/admin_pages.py, so a new page without coverage fails the suite. The other
tenant ("Zorblax Corp", slug `zorblax`) has a distinctively named row in every walked model,
as has the viewer's ("Vantor Labs", `vantor`); a page leaks if it contains the other tenant's
name (which every one of its rows carries) or a link to one of its rows.

Per walked ModelAdmin: the changelist, the changelist with each of its filter choices (the
links the filter sidebar offers), a search, the add form, the change form, history and
delete confirmation of an own row (GET only), and the autocomplete endpoint of each
autocomplete field. Plus the index, the app indexes and the password pages. Personas:

- a one-tenant admin: "zorblax" appears nowhere;
- a member of two tenants (admin of vantor, viewer of zorblax) acting in vantor: the other
  tenant appears only in the tenant switcher of the header (their own memberships), and after
  switching to zorblax, vantor appears only there.
  Their admin log holds an edit they made in zorblax, so "Recent actions" on the index would
  name it (staff get no such panel).

Superuser-only system pages (celery beat, axes, OTP devices, ...) are excluded by design:
SYSTEM_MODELS says why for each, and the walk checks that tenant staff get 403 there.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field

import pytest
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import quote
from django.test import Client
from django.urls import URLPattern, reverse

from apps.tenants.admin_scoping import TenantScopedAdmin
from tests.tenants.admin_pages import (
    CUSTOM_PAGES,
    MODEL_PAGES,
    SEEDERS,
    SITE_PAGES,
    SYSTEM_MODELS,
    seed,
    seed_global_policy,
)
from tests.tenants.factories import MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

SWITCHER = re.compile(r'<form id="fixops-tenant-switcher".*?</form>', re.DOTALL)
FILTER_SIDEBAR = re.compile(r'<nav id="changelist-filter".*?</nav>', re.DOTALL)


def registered() -> dict[str, admin.ModelAdmin]:
    return {model._meta.label: ma for model, ma in admin.site._registry.items()}


def walked() -> dict[str, admin.ModelAdmin]:
    return {k: ma for k, ma in registered().items() if isinstance(ma, TenantScopedAdmin)}


# --- the registry is complete ------------------------------------------------------------
def test_every_registered_admin_is_walked_or_excluded():
    for label, ma in registered().items():
        scoped = isinstance(ma, TenantScopedAdmin)
        assert scoped or label in SYSTEM_MODELS, (
            f"{label} ({type(ma).__name__}) is neither a TenantScopedAdmin nor listed in "
            "SYSTEM_MODELS of tests/tenants/admin_pages.py with the reason it is not tenant data"
        )
        assert not (scoped and label in SYSTEM_MODELS), f"{label} is tenant data: walk it"
        if scoped:
            assert label in SEEDERS, f"add a seeder for {label} to SEEDERS (admin_pages.py)"
    assert not set(SYSTEM_MODELS) - set(registered()), "stale SYSTEM_MODELS entries"
    assert not set(SEEDERS) - set(walked()), "stale SEEDERS entries"


def test_every_admin_url_is_covered():
    site_names = {p.name for p in admin.site.get_urls() if isinstance(p, URLPattern) and p.name}
    missing = site_names - set(SITE_PAGES)
    assert not missing, f"add these admin site URLs to SITE_PAGES (admin_pages.py): {missing}"
    assert not set(SITE_PAGES) - site_names, "stale SITE_PAGES entries"
    for model, ma in admin.site._registry.items():
        if model._meta.label in SYSTEM_MODELS:
            continue
        info = f"{model._meta.app_label}_{model._meta.model_name}_"
        for pattern in ma.get_urls():
            name = getattr(pattern, "name", None)
            if name is None or name.removeprefix(info) in MODEL_PAGES:
                continue
            assert name in CUSTOM_PAGES, (
                f"{type(ma).__name__} adds the admin URL {name!r}: walk it and register it in "
                "CUSTOM_PAGES (tests/tenants/admin_pages.py)"
            )


# --- the walk -----------------------------------------------------------------------------
@dataclass
class Walk:
    client: Client
    leak: re.Pattern  # what must not appear outside the switcher
    foreign_urls: list[str]  # change pages of the other tenant's rows
    filters: bool = True  # open each filter choice of each changelist
    pages: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    leaks: list[str] = field(default_factory=list)

    def get(self, path: str) -> str:
        response = self.client.get(path)
        self.pages += 1
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        assert response.status_code in (200, 302, 403), (path, response.status_code)
        body = SWITCHER.sub("", response.content.decode(errors="replace"))
        body += response.get("Location", "")
        found = self.leak.search(body)
        if found:
            start = max(found.start() - 80, 0)
            self.leaks.append(f"{path}: …{body[start : found.end() + 80]!r}…")
        for url in self.foreign_urls:
            if url in body:
                self.leaks.append(f"{path}: links {url}")
        return body if response.status_code == 200 else ""


def _url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


def _walk_model(walk: Walk, label: str, ma: admin.ModelAdmin, own) -> None:
    info = f"{ma.model._meta.app_label}_{ma.model._meta.model_name}"
    changelist = _url(f"{info}_changelist")
    page = walk.get(changelist)
    sidebar = FILTER_SIDEBAR.search(page)
    links = re.findall(r'href="(\?[^"]*)"', sidebar.group(0)) if sidebar and walk.filters else []
    for query in sorted(set(links)):
        walk.get(changelist + html.unescape(query))
    if ma.search_fields:
        # Fragments of both tenants' names: they match the rows but are not the marker the
        # page would otherwise echo back in its search box.
        for term in ("orbla", "anto", own.pk):
            walk.get(f"{changelist}?q={term}")
    walk.get(_url(f"{info}_add"))
    pk = quote(own.pk)
    for view in ("change", "history", "delete"):
        walk.get(_url(f"{info}_{view}", pk))
    for name, path in CUSTOM_PAGES.items():
        if name.startswith(f"{info}_"):
            walk.get(path(own))
    for field_name in ma.get_autocomplete_fields(walk.client):
        for term in ("", "orbla", "anto"):
            answer = walk.get(
                f"{_url('autocomplete')}?app_label={ma.model._meta.app_label}"
                f"&model_name={ma.model._meta.model_name}&field_name={field_name}&term={term}"
            )
            if answer and term == "":
                # The endpoint really answered with the own tenant's rows.
                assert json.loads(answer)["results"], (label, field_name)


def _walk_everything(walk: Walk, own_rows: dict) -> None:
    walk.get(_url("index"))
    for app_label in sorted({ma.model._meta.app_label for ma in walked().values()}):
        walk.get(_url("app_list", app_label))
    walk.get(_url("password_change"))
    walk.get(_url("password_change_done"))
    for label, ma in walked().items():
        _walk_model(walk, label, ma, own_rows[label])
    own_app, own_tenant = own_rows["findings.Application"], own_rows["tenants.Tenant"]
    for fmt in ("html", "csv"):
        walk.get(_url("workspace_report_application", own_app.pk, fmt))
        walk.get(_url("workspace_report_tenant", own_tenant.pk, fmt))
        walk.get(_url("workspace_report_current", fmt))
    for label in SYSTEM_MODELS:
        app_label, model = label.lower().split(".")
        response = walk.client.get(_url(f"{app_label}_{model}_changelist"))
        assert response.status_code == 403, f"{label} must be superuser-only"


@pytest.fixture
def two_tenants():
    vantor = TenantFactory(slug="vantor", name="Vantor Labs")
    zorblax = TenantFactory(slug="zorblax", name="Zorblax Corp")
    rows = {"vantor": seed(vantor, "vantor"), "zorblax": seed(zorblax, "zorblax")}
    rows["global"] = {"policies.Policy": seed_global_policy("shared-global-policy")}
    return vantor, zorblax, rows


def _foreign_urls(rows: dict) -> list[str]:
    return [
        _url(f"{row._meta.app_label}_{row._meta.model_name}_change", quote(row.pk))
        for row in rows.values()
    ]


def _staff(username: str, **roles) -> tuple[Client, object]:
    from apps.tenants.models import Tenant

    user = UserFactory(username=username, is_staff=True)
    for slug, role in roles.items():
        MembershipFactory(user=user, tenant=Tenant.objects.get(slug=slug), role=role)
    client = Client()
    client.force_login(user)
    return client, user


def _report(persona: str, walk: Walk) -> None:
    # Figures for the report (pytest -s shows them).
    figures = f"{walk.pages} pages, statuses {walk.statuses}, leaks {len(walk.leaks)}"
    print(f"\nadmin walk, {persona}: {figures}")  # noqa: T201


def test_one_tenant_admin_sees_no_other_tenant(two_tenants):
    _, _, rows = two_tenants
    client, _ = _staff("boss", vantor="admin")
    walk = Walk(client, re.compile("zorblax", re.I), _foreign_urls(rows["zorblax"]))
    _walk_everything(walk, rows["vantor"])
    _report("one-tenant admin", walk)
    assert walk.statuses.get(200, 0) > 100  # the walk really opened the pages
    assert not walk.leaks, "\n".join(walk.leaks[:30])


def test_two_tenant_member_sees_the_other_only_in_the_switcher(two_tenants):
    _, _, rows = two_tenants
    client, dual = _staff("dual", vantor="admin", zorblax="viewer")
    # What they did in zorblax is in their admin log ("Recent actions" would list it).
    LogEntry.objects.log_actions(
        user_id=dual.pk,
        queryset=[rows["zorblax"]["findings.Application"]],
        action_flag=CHANGE,
        change_message="edited while acting in zorblax",
        single_object=True,
    )
    index = client.get(_url("index")).content.decode()
    switcher = SWITCHER.search(index).group(0)
    assert "Zorblax Corp" in switcher and "Vantor Labs" in switcher  # own memberships

    walk = Walk(client, re.compile("zorblax", re.I), _foreign_urls(rows["zorblax"]))
    _walk_everything(walk, rows["vantor"])
    _report("two-tenant member in vantor", walk)
    assert not walk.leaks, "\n".join(walk.leaks[:30])

    response = client.post(reverse("tenant-switch"), {"tenant": "zorblax", "next": "/admin/"})
    assert response.status_code == 302
    # The same pages from the other side; the filter choices were walked above (a viewer's
    # sidebar is the admin's), which keeps this third walk short.
    walk = Walk(client, re.compile("vantor", re.I), _foreign_urls(rows["vantor"]), filters=False)
    _walk_everything(walk, rows["zorblax"])
    _report("two-tenant member switched to zorblax (viewer)", walk)
    assert not walk.leaks, "\n".join(walk.leaks[:30])


def test_switcher_only_offers_own_tenants(two_tenants):
    client, _ = _staff("solo", vantor="admin")
    response = client.post(reverse("tenant-switch"), {"tenant": "zorblax", "next": "/admin/"})
    assert response.status_code == 400
    page = client.get(_url("index")).content.decode()
    assert "fixops-tenant-switcher" not in page and "Vantor Labs (admin)" in page


def test_a_posted_foreign_id_is_refused_without_naming_it(two_tenants):
    """A raw-id field re-rendered after a POST naming another tenant's row must not show that
    row's name (Django's widget looks the id up in the whole table)."""
    _, _, rows = two_tenants
    client, _ = _staff("prober", vantor="analyst")
    finding = rows["vantor"]["findings.Finding"]
    foreign_app = rows["zorblax"]["findings.Application"]
    response = client.post(
        _url("findings_finding_change", finding.pk),
        {
            "application": foreign_app.pk,
            "title": finding.title,
            "status": finding.status,
            "severity": finding.severity,
            "kind": finding.kind,
            "occurrences-TOTAL_FORMS": "0",
            "occurrences-INITIAL_FORMS": "0",
            "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0",
        },
    )
    page = response.content.decode()
    # The form with its error, or (the triage page, where every field is read-only) back to
    # the list with nothing saved.
    assert response.status_code in (200, 302)
    assert "zorblax" not in page.lower()
    finding.refresh_from_db()
    assert finding.application_id != foreign_app.pk


def test_global_policies_are_shared_read_only(two_tenants):
    _, _, rows = two_tenants
    shared = rows["global"]["policies.Policy"]
    client, _ = _staff("approver", vantor="admin")
    assert "shared-global-policy" in client.get(_url("policies_policy_changelist")).content.decode()
    page = client.get(_url("policies_policy_change", shared.pk))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.get(_url("policies_policy_delete", shared.pk)).status_code == 403
    found = client.get(
        f"{_url('autocomplete')}?app_label=policies&model_name=policyassignment"
        "&field_name=policy&term=shared"
    ).json()["results"]
    assert [r["text"] for r in found] == ["shared-global-policy (global)"]
