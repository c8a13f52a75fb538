"""The steps of the analyst and GRC journeys, one small function each, on the controls of
tests/e2e/controls.py. A `Journey` is one person in one browser context: it counts clicks
(the issue's measure: dashboard to an overdue KEV finding in at most two) and screenshots
and checks every page it lands on (tests/e2e/browser.py).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page

from tests.e2e import controls
from tests.e2e.browser import assert_clean, shot, visit


@dataclass
class Journey:
    page: Page
    base: str
    clicks: int = 0

    def click(self, selector: str, name: str) -> None:
        """A person's click that loads a page: counted, screenshot, checked."""
        self.clicks += 1
        with self.page.expect_navigation():
            self.page.locator(selector).first.click()
        self.page.wait_for_load_state("load")
        shot(self.page, name)
        assert_clean(self.page)

    def go(self, path: str, name: str) -> None:
        """Open a URL directly (not a click a person makes in the flow being measured)."""
        visit(self.page, self.base + path, name)

    def action(self, action: str, pks: list[int], name: str) -> None:
        """Run a changelist action on the rows `pks` of the list shown."""
        for pk in pks:
            self.page.check(controls.row_checkbox(pk))
        self.page.select_option(controls.ACTION_SELECT, action)
        self.clicks += len(pks) + 1
        self.click(controls.ACTION_GO, name)

    def api(self, method: str, path: str, data: dict | None = None) -> dict:
        """Call the API with the signed-in session (CSRF token from the cookie, as the
        admin's own JavaScript would)."""
        token = next(
            (c["value"] for c in self.page.context.cookies() if c["name"] == "csrftoken"), ""
        )
        response = self.page.request.fetch(
            self.base + path,
            method=method,
            data=data,
            headers={"X-CSRFToken": token, "Referer": self.base + "/admin/"},
        )
        assert response.ok, (method, path, response.status, response.text())
        return response.json()

    def message(self) -> str:
        """The admin's messages after an action; an error message fails the step."""
        errors = self.page.locator(controls.ERROR_MESSAGE)
        assert errors.count() == 0, errors.all_inner_texts()
        return "\n".join(self.page.locator(controls.MESSAGES).all_inner_texts())


# --- analyst -------------------------------------------------------------------------------
def open_dashboard(journey: Journey) -> None:
    journey.go("/admin/", "dashboard")
    journey.clicks = 0  # clicks are counted from here


def dashboard_numbers(journey: Journey) -> dict[str, int]:
    """AFTER MERGE: the numbers the dashboard shows, by metric name (controls). The issue's
    measure: they equal `/api/v1/analytics/summary/` and workspace.sql_counts."""
    found = journey.page.locator(controls.DASHBOARD_METRIC).evaluate_all(
        "els => els.map(e => [e.dataset.metric, e.dataset.value || e.textContent])"
    )
    return {name: int(str(value).strip().replace(",", "")) for name, value in found}


def dashboard_to_overdue_kev_today(journey: Journey, finding_pk: int) -> None:
    """TODAY: the index's "Findings" link, the KEV filter, then the finding (no SLA filter
    or dashboard tile yet, so the overdue one is picked by id)."""
    journey.click(controls.INDEX_FINDINGS_LINK, "findings")
    journey.click(controls.KEV_FILTER_YES, "findings-kev")
    journey.click(controls.change_link("findings", "finding", finding_pk), "overdue-kev-finding")


def dashboard_to_overdue_kev(journey: Journey) -> None:
    """AFTER MERGE: the dashboard's overdue KEV tile, then the first (riskiest) finding."""
    journey.click(controls.DASHBOARD_OVERDUE_KEV_TILE, "findings-overdue-kev")
    assert controls.OVERDUE_KEV_QUERY.lstrip("?") in journey.page.url
    journey.click(controls.FIRST_FINDING, "overdue-kev-finding")


def assign_to_me_today(journey: Journey, finding_pk: int) -> None:
    """TODAY: back to the list, select the finding, "Assign selected findings to me"."""
    journey.page.go_back()
    journey.page.wait_for_load_state("load")
    journey.action(controls.ASSIGN_TO_ME_ACTION, [finding_pk], "assigned-to-me")
    assert "1 finding(s) assigned to" in journey.message()
    journey.click(controls.change_link("findings", "finding", finding_pk), "finding-mine")


def assign_to_me(journey: Journey) -> None:
    """AFTER MERGE: the button on the finding's page."""
    journey.click(controls.ASSIGN_TO_ME_BUTTON, "assigned-to-me")


def request_acceptance_today(journey: Journey, finding_pk: int, expires_at: str) -> int:
    """TODAY: through the API from the analyst's session (the admin has no request form).
    AFTER MERGE: the findings list's bulk "accept risk" action (controls.ACCEPT_RISK_ACTION)."""
    made = journey.api(
        "POST",
        controls.ACCEPTANCES_API,
        {
            "scope": "finding",
            "finding": finding_pk,
            "justification": "Patched build ships Friday; WAF rule blocks the exploit path.",
            "expires_at": expires_at,
        },
    )
    assert made["status"] == "requested"
    return made["id"]


def approve_acceptance(journey: Journey, acceptance_pk: int) -> None:
    """The approver's queue (requests only), select the request, "Approve selected"."""
    journey.go(controls.ACCEPTANCES_REQUESTED, "acceptances-requested")
    journey.action(controls.APPROVE_ACTION, [acceptance_pk], "acceptance-approved")
    assert "done" in journey.message()


def finding_status(journey: Journey, finding_pk: int) -> str:
    journey.go(f"/admin/findings/finding/{finding_pk}/change/", "finding-after-approval")
    return journey.page.locator(controls.readonly("status")).inner_text().strip()


# --- decisions and evidence ---------------------------------------------------------------
def open_decision(journey: Journey, decision_pk: int) -> None:
    journey.go(controls.DECISIONS, "decisions")
    journey.click(controls.change_link("policies", "decision", decision_pk), "decision")


def verify_evidence_today(journey: Journey, bundle_pk: int) -> dict:
    """TODAY: the bundle's admin page, then the verify endpoint called from the session
    (opened as a page, the JSON would make Chromium ask for /favicon.ico, which 404s).
    AFTER MERGE: the decision page's `#verify-evidence` button (controls)."""
    journey.go(controls.EVIDENCE_BUNDLE_PAGE.format(bundle=bundle_pk), "evidence-bundle")
    return journey.api("GET", controls.EVIDENCE_VERIFY_API.format(bundle=bundle_pk))


def verify_evidence(journey: Journey) -> None:
    """AFTER MERGE: the decision page's verify button shows the result on the page."""
    journey.page.click(controls.VERIFY_EVIDENCE_BUTTON)
    journey.page.wait_for_load_state("networkidle")  # a form post or a fetch: either settles
    shot(journey.page, "evidence-verified")
    assert_clean(journey.page)


def download_application_report(journey: Journey, application_pk: int, folder: Path) -> Path:
    """The application's report as PDF from the admin session, rendered to PNG (pdftoppm)
    beside the screenshots to be looked at."""
    path = controls.APPLICATION_REPORT.format(application=application_pk)
    response = journey.page.request.get(journey.base + path)
    assert response.status == 200, (path, response.status)
    assert response.headers["content-type"].startswith("application/pdf")
    body = response.body()
    assert body.startswith(b"%PDF-")
    pdf = folder / f"report-application-{application_pk}.pdf"
    pdf.write_bytes(body)
    subprocess.run(  # noqa: S603 - fixed arguments, our own file
        ["/usr/bin/pdftoppm", "-png", "-r", "60", str(pdf), str(pdf.with_suffix(""))],
        check=True,
    )
    return pdf
