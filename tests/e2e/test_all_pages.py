"""Every admin page in a real browser, on a realistic tenant (tests/e2e/workspace.py): each
changelist, one change page and the add page of each model, the index and app indexes, the
pages admins add (CUSTOM_PAGES), the password pages and the API docs, as a tenant admin (not
a superuser), then as a superuser: the index and the system tables' pages. Each page is screenshot
(var/screenshots/test_every_admin_page_renders_clean/) and must show no CSP violation,
console error or warning, or script error.

The page list comes from the admin registry, like the route walk (tests/tenants/
test_admin_walk.py), so a new ModelAdmin or admin URL is covered without editing this file.
The list of pages visited is printed (`-s`) and written beside the screenshots (pages.txt).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.urls import reverse
from playwright.sync_api import Page

from apps.tenants.admin_scoping import TenantScopedAdmin
from tests.e2e.browser import shot, sign_in, totp_device, visit
from tests.e2e.workspace import seed_workspace
from tests.tenants.admin_pages import CUSTOM_PAGES, SYSTEM_MODELS

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FIRST_ROW_LINK = "#result_list tbody tr:first-child th a, #result_list tbody tr:first-child td a"
ADD_LINK = ".object-tools a.addlink"


@dataclass
class Target:
    label: str  # "findings.Finding"
    info: str  # "findings_finding", the admin URL names' prefix
    own: object | None  # a seeded row, for change pages when the changelist shows none

    def url(self, view: str, *args) -> str:
        return reverse(f"admin:{self.info}_{view}", args=args)


def targets(*, system: bool, rows: dict) -> list[Target]:
    """The registered ModelAdmins to walk: tenant ones, plus the system ones if `system`."""
    found = []
    for model, model_admin in sorted(admin.site._registry.items(), key=lambda i: i[0]._meta.label):
        label = model._meta.label
        if isinstance(model_admin, TenantScopedAdmin) or (system and label in SYSTEM_MODELS):
            info = f"{model._meta.app_label}_{model._meta.model_name}"
            found.append(Target(label, info, rows.get(label)))
    return found


def walk_model(page: Page, base: str, target: Target) -> None:
    visit(page, base + target.url("changelist"), f"{target.label} list")
    add = page.locator(ADD_LINK)
    change = page.locator(FIRST_ROW_LINK).first
    change_url = change.get_attribute("href") if change.count() else None
    if change_url is None and target.own is not None:
        change_url = target.url("change", quote(target.own.pk))
    add_url = add.first.get_attribute("href") if add.count() else None
    if change_url:
        visit(page, base + change_url if change_url.startswith("/") else change_url, target.label)
    if add_url:
        visit(page, base + add_url, f"{target.label} add")
    for name, path in CUSTOM_PAGES.items():
        if name.startswith(f"{target.info}_") and target.own is not None:
            visit(page, base + path(target.own), f"{target.label} {name}")


def walk_site(page: Page, base: str, walked: list[Target]) -> None:
    visit(page, base + reverse("admin:index"), "admin index")
    for app_label in sorted({t.label.split(".")[0] for t in walked}):
        visit(page, base + reverse("admin:app_list", args=[app_label]), f"{app_label} app")
    visit(page, base + reverse("admin:password_change"), "password change")
    for target in walked:
        walk_model(page, base, target)
    page.goto(f"{base}/api/docs/")
    page.wait_for_selector("#swagger-ui .opblock", timeout=20000)
    visit(page, page.url, "api docs")


def test_every_admin_page_renders_clean(live_server, browsing, tmp_path):
    workspace = seed_workspace(tmp_path)
    started = time.monotonic()
    rows = workspace.rows
    base = live_server.url

    page = browsing.page()
    sign_in(page, base, "tina", totp_secret=totp_device(workspace.people.admin))
    tenant_pages = targets(system=False, rows=rows)
    walk_site(page, base, tenant_pages)
    page.context.close()

    page = browsing.page()
    sign_in(page, base, "root")  # the superuser enrols on first sign-in
    system_pages = [t for t in targets(system=True, rows=rows) if t.label in SYSTEM_MODELS]
    # The tenant pages are the same ModelAdmins for a superuser (acting in one tenant, like
    # anyone); the superuser's own are the index, which lists the system tables, and those.
    visit(page, base + reverse("admin:index"), "superuser admin index")
    for target in system_pages:
        walk_model(page, base, target)
    shot(page, "done")

    listing = "\n".join(browsing.pages)
    (browsing.shots / "pages.txt").write_text(listing + "\n")
    seconds = time.monotonic() - started
    print(f"\nbrowser walk: {len(browsing.pages)} pages in {seconds:.0f} s\n{listing}")  # noqa: T201
    labels = {t.label for t in tenant_pages} | {t.label for t in system_pages}
    assert labels == {m._meta.label for m in admin.site._registry}  # every admin walked
