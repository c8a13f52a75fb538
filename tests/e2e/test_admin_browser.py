"""The admin in a real browser (Debian's chromium driven by Playwright) under the strict
Content-Security-Policy: local sign-in with TOTP enrolment, then the admin's pages and forms,
with no CSP violation or script error in the console."""

from __future__ import annotations

import os
import shutil

import pytest
from django_otp.oath import totp
from playwright.sync_api import sync_playwright

from tests.findings.factories import ApplicationFactory, FindingFactory
from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery staple"


def code_from_secret(secret: str, drift: int = 0) -> str:
    import base64

    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return f"{totp(key, drift=drift):06d}"


@pytest.fixture
def browser_page():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install the Debian chromium package (.ci/run does)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls below happen
    # before and after pages load, never concurrently.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        page = browser.new_page()
        problems: list[str] = []
        page.on(
            "console",
            lambda msg: (
                problems.append(f"console {msg.type}: {msg.text} ({page.url})")
                if msg.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.problems = problems
        yield page
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def test_admin_works_under_csp_with_totp_sign_in(live_server, browser_page, acme):
    user = UserFactory(username="ops", is_staff=True, is_superuser=True)
    MembershipFactory(user=user, tenant=acme, role="admin")
    app = ApplicationFactory(tenant=acme, name="payments-api")
    FindingFactory(tenant=acme, application=app, title="SQL injection in login", status="open")
    page = browser_page
    base = live_server.url

    page.goto(f"{base}/admin/")
    assert page.url.startswith(f"{base}/accounts/login/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/accounts/login/enrol/")
    assert page.locator("img.qr").evaluate("img => img.naturalWidth") > 0  # the SVG QR renders
    secret = page.locator("code.secret").inner_text()
    page.fill("#id_otp_token", code_from_secret(secret))
    page.click("button[type=submit]")
    assert page.locator("ul.codes li").count() == 10
    page.click("a.button")
    page.wait_for_url(f"{base}/admin/")
    assert "FixOps" in page.title()

    # Changelist with filters, search and actions; a change form with its widgets; add form.
    page.goto(f"{base}/admin/findings/finding/")
    assert page.get_by_text("SQL injection in login").count() >= 1
    page.fill("#searchbar", "SQL")
    page.press("#searchbar", "Enter")
    page.wait_for_load_state()
    page.check("input.action-select")
    assert page.locator("select[name=action]").count() == 1
    page.goto(f"{base}/admin/findings/application/{app.pk}/change/")
    page.fill("#id_description", "Card payments (browser test)")
    page.click("input[name=_save]")
    page.wait_for_url(f"{base}/admin/findings/application/")
    assert page.locator("ul.messagelist li.success").count() == 1
    page.goto(f"{base}/admin/tenants/apitoken/add/")
    page.select_option("select[name=tenant]", str(acme.pk))
    page.fill("input[name=name]", "browser-ci")
    page.click("input[name=_save]")
    assert page.locator("code.fixops-token").inner_text().startswith("fxo_")
    # The application's report button: the HTML report opens under the CSP, styled by its
    # stylesheet from /static/ (a tile's border comes from report.css only).
    page.goto(f"{base}/admin/findings/application/{app.pk}/change/")
    page.click("text=Report (HTML)")
    page.wait_for_url(f"{base}/admin/reports/applications/{app.pk}/html/")
    assert page.locator("h1").inner_text() == "Security report: payments-api"
    assert page.locator(".tile").first.evaluate("e => getComputedStyle(e).borderStyle") == "solid"
    errors = [p for p in page.problems if p.startswith(("page error", "console error"))]
    assert not errors, "\n".join(errors)

    # The API docs (Swagger UI) load under the same policy.
    page.goto(f"{base}/api/docs/")
    page.wait_for_selector("#swagger-ui", timeout=15000)
    page.wait_for_load_state("networkidle")
    csp = [p for p in page.problems if "Content Security Policy" in p or "Refused" in p]
    assert not csp, "\n".join(csp)
