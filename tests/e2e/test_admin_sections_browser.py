"""The admin's sections and a scan's lost results in a real browser, on the demo tenant:
the System section last for a superuser, the scan page's table readable, and no CSP
violation or script error. Screenshots go to var/screenshots/ (CI artefacts)."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from apps.findings.models import Scan
from tests.e2e.test_admin_browser import PASSWORD, browser_page, code_from_secret  # noqa: F401
from tests.findings.factories import ScanFactory
from tests.tenants.factories import UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
LOST = [
    {"pointer": f"/runs/0/results/{n}", "reason": "no_location", "message": "result has no "
     "location", "lost": True, "suppressed": False}
    for n in (3, 9, 14, 15, 21, 30, 31)
] + [{"pointer": "/runs/0/results/4", "reason": "kind_pass", "message": "SARIF kind pass",
      "lost": False, "suppressed": True}]  # fmt: skip


def _sign_in(page, base: str) -> None:
    page.goto(f"{base}/admin/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/accounts/login/enrol/")
    page.fill("#id_otp_token", code_from_secret(page.locator("code.secret").inner_text()))
    page.click("button[type=submit]")
    page.click("a.button")
    page.wait_for_url(f"{base}/admin/")


def test_sections_and_lost_results_in_the_browser(live_server, browser_page):  # noqa: F811
    UserFactory(username="ops", is_staff=True, is_superuser=True)
    call_command("load_demo", username="ops", stdout=StringIO())  # ops: the demo's admin
    demo_scan = Scan.objects.filter(tenant__slug="demo").order_by("pk").first()
    lossy = ScanFactory(
        tenant=demo_scan.tenant,
        application=demo_scan.application,
        tool_name="semgrep",
        branch="main",
        skipped=LOST,
        counts={"results": 40, "lost": 7, "suppressed": 1, "skipped": 7},
    )
    page, base = browser_page, live_server.url
    SHOTS.mkdir(parents=True, exist_ok=True)
    _sign_in(page, base)

    captions = page.locator("#content-main caption a.section").all_inner_texts()
    assert [c.lower() for c in (captions[0], captions[-1])] == ["findings", "system"]  # CSS caps
    page.screenshot(path=str(SHOTS / "admin-index-sections.png"), full_page=True)

    page.goto(f"{base}/admin/findings/scan/")
    assert page.locator("strong.fixops-lost").first.inner_text() == "7 lost"
    page.screenshot(path=str(SHOTS / "admin-scans-lost.png"), full_page=True)
    page.goto(f"{base}/admin/findings/scan/{lossy.pk}/change/")
    table = page.locator("table.fixops-skipped")
    assert table.locator("tbody tr").count() == 2
    assert "and 2 more" in table.inner_text()
    page.screenshot(path=str(SHOTS / "admin-scan-lost-results.png"), full_page=True)

    errors = [p for p in page.problems if p.startswith(("page error", "console error"))]
    assert not errors, "\n".join(errors)
