"""The steps of the analyst and GRC journeys, one small function each, on the controls of
tests/e2e/controls.py. A `Journey` is one person in one browser context: it counts clicks
(the issue's measure: dashboard to an overdue KEV finding in at most two) and screenshots
and checks every page it lands on (tests/e2e/browser.py).
"""

from __future__ import annotations

import re
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


def dashboard_numbers(journey: Journey) -> dict[str, str]:
    """The numbers the dashboard's tiles show, by tile key (controls.DASHBOARD_TILE_VALUE)."""
    found = journey.page.locator(controls.DASHBOARD_TILE_VALUE).evaluate_all(
        "els => els.map(e => [e.dataset.value, e.textContent.trim()])"
    )
    return dict(found)


def dashboard_to_overdue_kev(journey: Journey) -> int:
    """The dashboard's overdue KEV tile, then the first (riskiest) finding of that list;
    returns the finding's id."""
    journey.click(controls.DASHBOARD_OVERDUE_KEV_TILE, "findings-overdue-kev")
    assert controls.OVERDUE_KEV_QUERY in journey.page.url, journey.page.url
    journey.click(controls.FIRST_FINDING, "overdue-kev-finding")
    return int(re.search(r"/finding/(\d+)/change/", journey.page.url).group(1))


def assign_to_me(journey: Journey) -> None:
    """The "Assign to me" button on the finding's page."""
    journey.click(controls.ASSIGN_TO_ME_BUTTON, "assigned-to-me")
    assert "The finding is yours." in journey.message()


def request_acceptance(journey: Journey, finding_pk: int, expires_on: str) -> None:
    """From the list the finding came from: select it, "Request a risk acceptance", then the
    justification and expiry on the action's second page."""
    journey.page.go_back()  # the finding's page, before the assignment's redirect
    journey.page.go_back()  # the overdue KEV list
    journey.page.wait_for_load_state("load")
    journey.action(controls.REQUEST_ACCEPTANCE_ACTION, [finding_pk], "request-acceptance")
    journey.page.fill(
        controls.ACCEPTANCE_JUSTIFICATION,
        "Patched build ships Friday; the WAF rule blocks the exploit path meanwhile.",
    )
    journey.page.fill(controls.ACCEPTANCE_EXPIRES, expires_on)
    journey.click(controls.ACTION_APPLY, "acceptance-requested")
    assert "1 risk acceptance request(s) opened" in journey.message()


def approve_acceptance(journey: Journey, acceptance_pk: int) -> None:
    """The approver's queue (requests only), select the request, "Approve selected"."""
    journey.go(controls.ACCEPTANCES_REQUESTED, "acceptances-requested")
    journey.action(controls.APPROVE_ACTION, [acceptance_pk], "acceptance-approved")
    assert "done" in journey.message()


def finding_status(journey: Journey, finding_pk: int) -> str:
    journey.go(f"/admin/findings/finding/{finding_pk}/change/", "finding-after-approval")
    return journey.page.locator(controls.FINDING_STATUS).inner_text().strip()


# --- decisions and evidence ---------------------------------------------------------------
def open_decision(journey: Journey, decision_pk: int) -> None:
    journey.go(controls.DECISIONS, "decisions")
    journey.click(controls.change_link("policies", "decision", decision_pk), "decision")


def verify_evidence(journey: Journey) -> str:
    """The decision page's "Verify evidence" button; returns the result shown."""
    journey.click(controls.VERIFY_EVIDENCE_BUTTON, "evidence-verified")
    return journey.page.locator(controls.VERIFICATION_RESULT).inner_text()


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
