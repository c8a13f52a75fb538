"""The triage list and a finding's page in a real browser (Debian's chromium, Playwright)
under the strict CSP: no CSP violation or script error, the key controls present, and
screenshots at 1366 px (var/screenshots/, for the docs and CI)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from apps.findings.models import Occurrence
from apps.intel.risk import Context, Intel, assess
from tests.e2e.browser import assert_clean, shot
from tests.findings.factories import ApplicationFactory, FindingFactory, ScanFactory
from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_triage_pages_in_a_browser(live_server, browsing, acme):
    user = UserFactory(username="ana", is_staff=True)
    MembershipFactory(user=user, tenant=acme, role="analyst")
    app = ApplicationFactory(
        tenant=acme, name="payments-api", repo_url="https://github.com/acme/payments-api"
    )
    scan = ScanFactory(tenant=acme, application=app, commit="3f9c2ab", branch="main")
    vector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    risk = assess(
        Context(kind="sca", severity="critical", internet_exposed=True),
        Intel(epss=0.42, kev=True, cvss_vectors=(vector,)),
    )
    finding = FindingFactory(
        tenant=acme,
        application=app,
        kind="sca",
        severity="critical",
        title="Prototype pollution in lodash allows property injection via merge " * 2,
        component_purl="pkg:npm/lodash@4.17.15",
        component_name="lodash",
        component_version="4.17.15",
        fixed_versions=["4.17.21"],
        kev=True,
        ssvc="Act",
        epss=0.42,
        risk_score=risk.score,
        risk_explanation=risk.explanation,
        due_at=timezone.now() - timedelta(days=3),
    )
    Occurrence.objects.create(
        tenant=acme,
        application=app,
        finding=finding,
        tool="trivy",
        branch="main",
        rule_id="CVE-2020-8203",
        path="package-lock.json",
        line=42,
        last_scan=scan,
    )
    for n in range(8):
        FindingFactory(tenant=acme, application=app, severity="medium", risk_score=10.0 + n)
    client = Client()
    client.force_login(user)
    page = browsing.page()
    page.set_viewport_size({"width": 1366, "height": 900})
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page.goto(f"{live_server.url}/admin/findings/finding/")
    assert page.locator("#result_list tbody tr").count() == 9
    shot(page, "triage-list")
    # Each click loads another page (or the same one again): expect() waits for the new
    # one, where a plain read could still see the page the click left.
    page.click('a.fx-filter-link[data-filter="kev"][data-value="1"]')
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.click("#result_list tbody tr a")
    expect(page.locator("#risk-table")).to_have_count(1)
    assert page.locator("a.fx-code-link").get_attribute("href") == (
        "https://github.com/acme/payments-api/blob/3f9c2ab/package-lock.json#L42"
    )
    page.click("#assign-to-me")
    expect(page.locator("#finding-owner")).to_contain_text("ana")
    page.fill("#comment-body", "Upgrading in PR 12")
    page.click("#comment-submit")
    expect(page.locator("#comments")).to_contain_text("Upgrading in PR 12")
    shot(page, "triage-finding")
    assert_clean(page)
