"""Every selector and URL the journeys use, in one place (tests/e2e/journeys.py uses them):
a control that changes is changed here and in the one step function that names it."""

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


# --- dashboard (admin index: apps/workspace/dashboard.py) -----------------------------------
# The tile of the open KEV findings past their SLA (`?kev=1&sla=overdue`).
DASHBOARD_OVERDUE_KEV_TILE = 'a[data-tile="overdue_kev"]'
# Each tile's number: <span data-value="<key>">n</span> inside a[data-tile] (keys: open,
# critical, kev, overdue_kev, overdue, due_soon, on_time_percent, noise, feeds).
DASHBOARD_TILE_VALUE = "a[data-tile] .fx-tile-value"

# --- findings triage (apps/workspace/admin/findings.py) -----------------------------------
OVERDUE_KEV_QUERY = "kev=1&sla=overdue"
FIRST_FINDING = '#result_list tbody tr:first-child a[href*="/change/"]'
ASSIGN_TO_ME_BUTTON = "#assign-to-me"
FINDING_STATUS = "#finding-status"
FINDING_OWNER = "#finding-owner"
FINDING_KEV_BADGE = "#finding-header .fx-kev"
# The bulk action that opens an acceptance request, and its second page.
REQUEST_ACCEPTANCE_ACTION = "request_acceptance"
ACCEPTANCE_JUSTIFICATION = "#acceptance-justification"
ACCEPTANCE_EXPIRES = "#acceptance-expires"
ACTION_APPLY = "#action-apply"

# --- acceptances (approver) -------------------------------------------------------------
ACCEPTANCES_REQUESTED = "/admin/policies/riskacceptance/?status__exact=requested"
APPROVE_ACTION = "approve"  # RiskAcceptanceAdmin.approve

# --- decisions and evidence (apps/workspace/admin/decisions.py) ----------------------------
DECISIONS = "/admin/policies/decision/"
VERIFY_EVIDENCE_BUTTON = "#verify-evidence"
VERIFICATION_RESULT = "#verification-result"
DOWNLOAD_EVIDENCE_BUTTON = "#download-evidence"

# --- reports --------------------------------------------------------------------------------
APPLICATION_REPORT = "/api/v1/reports/applications/{application}/?format=pdf"
