"""The analyst's and the GRC reviewer's journeys in a real browser, on the realistic tenant
of tests/e2e/workspace.py, every page screenshot (var/screenshots/<test>/) and clean (no CSP
violation, console error or warning, or script error).

Steps are tests/e2e/journeys.py's functions on tests/e2e/controls.py's selectors. Steps
named `..._today` work around controls that issue 15's dashboard, triage, decision page and
reports parts add; their docstrings name the control to switch to (see controls.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import Resolver404, resolve
from django.utils import timezone

from apps.evidence.models import EvidenceBundle
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
    """Sign in with TOTP → dashboard → overdue KEV finding → assign to me → request an
    acceptance → an approver approves it → the finding is risk accepted → the decision page
    → its evidence verifies."""
    base = live_server.url
    finding = workspace.overdue_kev
    assert finding.kev and finding.status == "open" and due_state(finding) == "overdue"
    counts = sql_counts(workspace.tenant)  # the seed gives every tile something to show
    assert counts["kev"] >= 1 and counts["overdue"] >= counts["kev"] and counts["due_soon"] >= 1

    analyst = Journey(browsing.page(), base)
    sign_in(analyst.page, base, "ana")  # first sign-in: enrols the authenticator app
    journeys.open_dashboard(analyst)
    # AFTER MERGE (dashboard): the numbers on screen equal the API's and the SQL count:
    # assert journeys.dashboard_numbers(analyst) == {**counts} (names: controls) and
    # analyst.api("GET", "/api/v1/analytics/summary/") gives the same.
    journeys.dashboard_to_overdue_kev_today(analyst, finding.pk)
    # The measure (dashboard to an overdue KEV finding in at most 2 clicks) is
    # asserted once the dashboard tile exists: journeys.dashboard_to_overdue_kev, then
    # `assert analyst.clicks <= 2`. Today's path takes:
    print(f"\nclicks from the dashboard to the overdue KEV finding: {analyst.clicks}")  # noqa: T201
    assert analyst.page.locator(controls.readonly("kev")).count() == 1

    journeys.assign_to_me_today(analyst, finding.pk)
    finding.refresh_from_db()
    assert finding.owner_user == workspace.people.analyst
    assert analyst.page.locator(controls.readonly("owner_user")).inner_text().strip() == "ana"

    expires = (timezone.now() + timedelta(days=14)).isoformat()
    acceptance_pk = journeys.request_acceptance_today(analyst, finding.pk, expires)

    approver = Journey(browsing.page(), base)
    sign_in(approver.page, base, "april", totp_secret=totp_device(workspace.people.approver))
    journeys.approve_acceptance(approver, acceptance_pk)
    assert RiskAcceptance.objects.get(pk=acceptance_pk).status == "approved"
    approver.page.context.close()

    assert journeys.finding_status(analyst, finding.pk) == "Risk accepted"
    decision = Decision.objects.filter(application=finding.application).latest("pk")
    journeys.open_decision(analyst, decision.pk)
    bundle = EvidenceBundle.objects.get(decision=decision)
    verdict = journeys.verify_evidence_today(analyst, bundle.pk)
    assert verdict["valid"] is True, verdict
    assert Finding.objects.get(pk=finding.pk).status == "risk_accepted"


def test_grc_journey(live_server, browsing, workspace):
    """A GRC reviewer (viewer role: reads findings, decisions, evidence) signs in → the
    decisions → one decision → its evidence → the application's report as PDF."""
    base = live_server.url
    decision = workspace.decision
    grc = Journey(browsing.page(), base)
    sign_in(grc.page, base, "grc", totp_secret=totp_device(workspace.people.auditor))
    journeys.open_decision(grc, decision.pk)
    bundle = EvidenceBundle.objects.get(decision=decision)
    assert journeys.verify_evidence_today(grc, bundle.pk)["valid"] is True

    report_step_application_pdf(grc, decision.application_id, browsing.shots)


def report_step_application_pdf(journey: Journey, application_pk: int, folder) -> None:
    """The report step: skipped while the reports endpoint does not exist (issue 15's
    reports part builds it; the lead removes this skip at merge)."""
    path = controls.APPLICATION_REPORT.format(application=application_pk).split("?")[0]
    try:
        resolve(path)
    except Resolver404:
        pytest.skip(f"report step: {path} is not built yet (issue 15 reports part)")
    pdf = journeys.download_application_report(journey, application_pk, folder)
    assert list(pdf.parent.glob(f"{pdf.stem}-*.png"))  # pdftoppm numbers pages -1 or -01
