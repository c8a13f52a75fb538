"""The admin's sections and a scan's lost results in a real browser, on the demo tenant:
the System section last for a superuser, the scan page's table readable, and no CSP
violation or script error. Screenshots go to var/screenshots/ (CI artefacts)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from apps.findings.models import Scan
from tests.e2e.browser import assert_clean, shot, sign_in
from tests.findings.factories import ScanFactory
from tests.tenants.factories import UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
LOST = [
    {"pointer": f"/runs/0/results/{n}", "reason": "no_location", "message": "result has no "
     "location", "lost": True, "suppressed": False}
    for n in (3, 9, 14, 15, 21, 30, 31)
] + [{"pointer": "/runs/0/results/4", "reason": "kind_pass", "message": "SARIF kind pass",
      "lost": False, "suppressed": True}]  # fmt: skip


def test_sections_and_lost_results_in_the_browser(live_server, browsing):
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
    page, base = browsing.page(), live_server.url
    sign_in(page, base, "ops")

    captions = page.locator("#content-main caption a.section").all_inner_texts()
    assert [c.lower() for c in (captions[0], captions[-1])] == ["findings", "system"]  # CSS caps
    shot(page, "admin-index-sections")

    page.goto(f"{base}/admin/findings/scan/")
    assert page.locator("strong.fixops-lost").first.inner_text() == "7 lost"
    shot(page, "admin-scans-lost")
    page.goto(f"{base}/admin/findings/scan/{lossy.pk}/change/")
    table = page.locator("table.fixops-skipped")
    assert table.locator("tbody tr").count() == 2
    assert "and 2 more" in table.inner_text()
    shot(page, "admin-scan-lost-results")
    assert_clean(page)
