"""The admin in a real browser (Debian's chromium driven by Playwright) under the strict
Content-Security-Policy: local sign-in with TOTP enrolment, then the admin's pages and forms,
with no CSP violation, console error or warning, or script error (tests/e2e/browser.py)."""

from __future__ import annotations

import pytest

from tests.e2e.browser import assert_clean, shot, sign_in, visit
from tests.findings.factories import ApplicationFactory, FindingFactory
from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_admin_works_under_csp_with_totp_sign_in(live_server, browsing, acme):
    user = UserFactory(username="ops", is_staff=True, is_superuser=True)
    MembershipFactory(user=user, tenant=acme, role="admin")
    app = ApplicationFactory(tenant=acme, name="payments-api")
    FindingFactory(tenant=acme, application=app, title="SQL injection in login", status="open")
    page = browsing.page()
    base = live_server.url

    sign_in(page, base, "ops")  # first sign-in: enrols the authenticator
    assert "FixOps" in page.title()
    shot(page, "admin-index")

    # Changelist with filters, search and actions; a change form with its widgets; add form.
    visit(page, f"{base}/admin/findings/finding/", "findings")
    assert page.get_by_text("SQL injection in login").count() >= 1
    page.fill("#searchbar", "SQL")
    page.press("#searchbar", "Enter")
    page.wait_for_load_state()
    page.check("input.action-select")
    assert page.locator("select[name=action]").count() == 1
    shot(page, "findings-searched-and-selected")
    assert_clean(page)
    visit(page, f"{base}/admin/findings/application/{app.pk}/change/", "application")
    page.fill("#id_description", "Card payments (browser test)")
    page.click("input[name=_save]")
    page.wait_for_url(f"{base}/admin/findings/application/")
    assert page.locator("ul.messagelist li.success").count() == 1
    shot(page, "application-saved")
    assert_clean(page)
    visit(page, f"{base}/admin/tenants/apitoken/add/", "token-add")
    page.select_option("select[name=tenant]", str(acme.pk))
    page.fill("input[name=name]", "browser-ci")
    page.click("input[name=_save]")
    assert page.locator("code.fixops-token").inner_text().startswith("fxo_")
    shot(page, "token-issued")
    assert_clean(page)

    # The application's report button: the HTML report opens under the CSP, styled by its
    # stylesheet from /static/ (a tile's border comes from report.css only).
    page.goto(f"{base}/admin/findings/application/{app.pk}/change/")
    page.click("text=Report (HTML)")
    page.wait_for_url(f"{base}/admin/reports/applications/{app.pk}/html/")
    assert page.locator("h1").inner_text() == "Security report: payments-api"
    assert page.locator(".tile").first.evaluate("e => getComputedStyle(e).borderStyle") == "solid"
    shot(page, "report-html")
    assert_clean(page)

    # The API docs (Swagger UI) load under the same policy.
    page.goto(f"{base}/api/docs/")
    page.wait_for_selector("#swagger-ui", timeout=15000)
    page.wait_for_load_state("networkidle")
    shot(page, "api-docs")
    assert_clean(page)


def test_a_csp_violation_is_caught(live_server, browsing):
    """The capture itself: a style attribute added by script breaks `style-src 'self'`, and
    assert_clean names it (so a clean page really means no violation)."""
    page = browsing.page()
    page.goto(f"{live_server.url}/accounts/login/")
    assert_clean(page)
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    page.wait_for_function("window.__cspViolations.length > 0")
    with pytest.raises(AssertionError, match="CSP violation: style-src-attr"):
        assert_clean(page)
