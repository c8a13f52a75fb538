"""Every selector and URL the journeys use, in one place (tests/e2e/journeys.py uses them).

Marked **TODAY** where the journey works around a control that issue 15's other parts are
building (dashboard, triage, decision page, reports); **AFTER MERGE** names the control the
step should use once they land, so finishing a journey means editing this file and the one
step function that names it.
"""

from __future__ import annotations

# --- Django admin, stable ----------------------------------------------------------------
MESSAGES = "ul.messagelist li"  # success, info (admin actions say "done" at info level)
ERROR_MESSAGE = "ul.messagelist li.error"
ACTION_SELECT = "select[name=action]"
ACTION_GO = "button[name=index]"  # the changelist's "Go"
SEARCH = "#searchbar"


def row_checkbox(pk: int) -> str:
    """The changelist checkbox of the row `pk`."""
    return f'#result_list input.action-select[value="{pk}"]'


def change_link(app_label: str, model: str, pk: int) -> str:
    """The changelist's link to the change page of `pk`."""
    return f'#result_list a[href*="/admin/{app_label}/{model}/{pk}/change/"]'


def readonly(field: str) -> str:
    """A read-only field's value on a change page."""
    return f".field-{field} .readonly"


# --- dashboard (admin index) ------------------------------------------------------------------
# TODAY: the index is Django's app list; "Findings" in it is the way to the list.
INDEX_FINDINGS_LINK = '#content-main a[href$="/admin/findings/finding/"]'
# AFTER MERGE: the dashboard tile that links to the overdue KEV findings
# (`?kev=1&sla=overdue`); its id is the dashboard helper's to confirm.
DASHBOARD_OVERDUE_KEV_TILE = "a#tile-overdue-kev"

# AFTER MERGE: each number on the dashboard, as the dashboard helper marks it up (to
# confirm): an element with data-metric="<name>" (critical, high, medium, low, kev, overdue,
# due_soon) and its count in data-value, or as its text.
DASHBOARD_METRIC = "[data-metric]"

# --- findings triage ----------------------------------------------------------------------
# TODAY: the stock KEV filter of the sidebar (no SLA filter yet).
KEV_FILTER_YES = '#changelist-filter a[href*="kev__exact=1"]'
# AFTER MERGE: the triage list's own filters, e.g. ?state=active&kev=1&sla=overdue.
OVERDUE_KEV_QUERY = "?kev=1&sla=overdue"
FIRST_FINDING = "#result_list tbody tr:first-child th a"
# TODAY: "Assign selected findings to me" is a changelist action.
ASSIGN_TO_ME_ACTION = "assign_to_me"
# AFTER MERGE: the button on the finding's page.
ASSIGN_TO_ME_BUTTON = "#assign-to-me"
# AFTER MERGE: the bulk action that opens an acceptance request (name to confirm).
ACCEPT_RISK_ACTION = "accept_risk"

# --- acceptances (approver) -------------------------------------------------------------
ACCEPTANCES_REQUESTED = "/admin/policies/riskacceptance/?status__exact=requested"
APPROVE_ACTION = "approve"  # RiskAcceptanceAdmin.approve

# --- decisions and evidence ---------------------------------------------------------------
DECISIONS = "/admin/policies/decision/"
# TODAY: the evidence bundle's admin page, and the verify endpoint read from the session.
EVIDENCE_BUNDLE_PAGE = "/admin/evidence/evidencebundle/{bundle}/change/"
EVIDENCE_VERIFY_API = "/api/v1/evidence/{bundle}/verify"
# AFTER MERGE: the decision page's buttons.
VERIFY_EVIDENCE_BUTTON = "#verify-evidence"
DOWNLOAD_EVIDENCE_BUTTON = "#download-evidence"

# --- reports ------------------------------------------------------------------------------
# TODAY: not built; the GRC journey skips its report step while this URL does not resolve.
APPLICATION_REPORT = "/api/v1/reports/applications/{application}/?format=pdf"
# AFTER MERGE: if the application's admin page links the PDF, the GRC journey clicks it
# instead of requesting the URL (the reports helper names the link).

# --- API used from the signed-in session --------------------------------------------------
# TODAY: the acceptance request is made through the API (the admin has no request form).
ACCEPTANCES_API = "/api/v1/acceptances/"
