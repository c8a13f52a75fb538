"""The analyst's and the GRC reviewer's journeys in a real browser, on the realistic tenant
of tests/e2e/workspace.py, every page screenshot (var/screenshots/<test>/) and clean (no CSP
violation, console error or warning, or script error).

Steps are tests/e2e/journeys.py's functions on tests/e2e/controls.py's selectors.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.findings.models import Finding
from apps.policies.models import Decision, RiskAcceptance
from tests.e2e import controls, journeys
from tests.e2e.browser import sign_in, totp_device
from tests.e2e.journeys import Journey
from tests.e2e.workspace import due_state, seed_workspace, sql_counts

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def workspace(tmp_path):
    return seed_workspace(tmp_path)


def test_analyst_journey(live_server, browsing, workspace):
    """Sign in with TOTP → dashboard → overdue KEV finding (at most two clicks) → assign to
    me → request an acceptance → an approver approves it → the finding is risk accepted → the
    decision page → its evidence verifies."""
    base = live_server.url
    counts = sql_counts(workspace.tenant)  # the seed gives every tile something to show
    assert counts["kev"] >= 1 and counts["overdue"] >= 1 and counts["due_soon"] >= 1

    analyst = Journey(browsing.page(), base)
    sign_in(analyst.page, base, "ana")  # first sign-in: enrols the authenticator app
    journeys.open_dashboard(analyst)
    # The numbers on screen are the API's and an independent SQL count's.
    shown = journeys.dashboard_numbers(analyst)
    summary = analyst.api("GET", "/api/v1/analytics/summary/")
    for key in ("critical", "kev", "overdue", "due_soon"):
        assert shown[key] == str(counts[key]), (key, shown, counts)
    assert shown["kev"] == str(summary["kev"]["open_findings"])
    assert shown["overdue_kev"] == str(summary["kev"]["overdue_findings"])
    assert shown["overdue"] == str(summary["sla"]["by_state"]["overdue"])

    finding_pk = journeys.dashboard_to_overdue_kev(analyst)
    assert analyst.clicks <= 2, analyst.clicks  # the measure
    print(f"\nclicks from the dashboard to an overdue KEV finding: {analyst.clicks}")  # noqa: T201
    finding = Finding.objects.get(pk=finding_pk)
    assert finding.kev and finding.status == "open" and due_state(finding) == "overdue"
    assert analyst.page.locator(controls.FINDING_KEV_BADGE).count() == 1

    journeys.assign_to_me(analyst)
    finding.refresh_from_db()
    assert finding.owner_user == workspace.people.analyst
    assert "ana" in analyst.page.locator(controls.FINDING_OWNER).inner_text()

    expires_on = (timezone.now() + timedelta(days=14)).date().isoformat()
    journeys.request_acceptance(analyst, finding.pk, expires_on)
    acceptance = RiskAcceptance.objects.get(finding=finding, status="requested")
    assert Finding.objects.get(pk=finding.pk).status == "open"  # unchanged until approved

    approver = Journey(browsing.page(), base)
    sign_in(approver.page, base, "april", totp_secret=totp_device(workspace.people.approver))
    journeys.approve_acceptance(approver, acceptance.pk)
    assert RiskAcceptance.objects.get(pk=acceptance.pk).status == "approved"
    approver.page.context.close()

    assert journeys.finding_status(analyst, finding.pk) == "Risk accepted"
    decision = Decision.objects.filter(application=finding.application).latest("pk")
    journeys.open_decision(analyst, decision.pk)
    assert "Valid" in journeys.verify_evidence(analyst)
    assert Finding.objects.get(pk=finding.pk).status == "risk_accepted"


def test_grc_journey(live_server, browsing, workspace):
    """A GRC reviewer (viewer role: reads findings, decisions, evidence) signs in → the
    decisions → one decision → its evidence verifies → the application's report as PDF."""
    base = live_server.url
    decision = workspace.decision
    grc = Journey(browsing.page(), base)
    sign_in(grc.page, base, "grc", totp_secret=totp_device(workspace.people.auditor))
    journeys.open_decision(grc, decision.pk)
    assert "Valid" in journeys.verify_evidence(grc)
    report_step_application_pdf(grc, decision.application_id, browsing.shots)


def report_step_application_pdf(journey: Journey, application_pk: int, folder) -> None:
    """The application's report as PDF, rendered to PNG pages beside the screenshots."""
    pdf = journeys.download_application_report(journey, application_pk, folder)
    assert list(pdf.parent.glob(f"{pdf.stem}-*.png"))  # pdftoppm numbers pages -1 or -01
