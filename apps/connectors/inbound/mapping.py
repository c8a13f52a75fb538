"""Remote status -> what it means for the finding, per vendor, overridable per integration.

A status change is classified by the first key found, the integration's `status_map` setting
first, then the vendor's defaults below (docs/connectors.md, "Inbound", states them):

    "<status>|<resolution>"  "<status>"  "category:<category>|<resolution>"  "category:<category>"

Keys and the vendor's words are compared case-insensitively. Values are the outcomes below.
"""

from __future__ import annotations

from enum import StrEnum

from apps.connectors.inbound.changes import RemoteChange
from apps.connectors.schema import ConfigField


class Outcome(StrEnum):
    DONE = "done"  # closed as fixed: the finding becomes fixed (pending verification)
    WONT_DO = "wont_do"  # closed as won't-do: a risk-acceptance request for an approver
    REOPENED = "reopened"  # open again: a closed (fixed/verified) finding is reopened
    IGNORE = "ignore"  # nothing to do (in progress, duplicate, unknown words)


_DONE, _WONT, _OPEN, _SKIP = Outcome.DONE, Outcome.WONT_DO, Outcome.REOPENED, Outcome.IGNORE

DEFAULTS: dict[str, dict[str, Outcome]] = {
    # Status categories are new / indeterminate / done (keys; names To Do / In Progress / Done).
    "jira": {
        "category:done|won't do": _WONT,
        "category:done|won't fix": _WONT,
        "category:done|declined": _WONT,
        "category:done": _DONE,
        "category:new": _OPEN,
        "category:to do": _OPEN,
        "category:indeterminate": _OPEN,
        "category:in progress": _OPEN,
    },
    # issue.state open / closed with issue.state_reason completed / not_planned / duplicate.
    "github": {
        "closed|not_planned": _WONT,
        "closed|duplicate": _SKIP,
        "closed": _DONE,
        "open": _OPEN,
    },
    # object_attributes.state opened / closed (GitLab has no close reason).
    "gitlab": {"closed": _DONE, "opened": _OPEN, "reopened": _OPEN},
    # System.State names of the Agile / Scrum / Basic processes, state categories, and the
    # ResolvedReason (resolution) of a closed item.
    "azure_devops": {
        **{
            f"{s}|{r}": _WONT
            for s in ("resolved", "closed", "done")
            for r in ("won't fix", "as designed", "obsolete")
        },
        **{f"{s}|duplicate": _SKIP for s in ("resolved", "closed", "done")},
        "removed": _WONT,
        "done": _DONE,
        "closed": _DONE,
        "resolved": _DONE,
        "new": _OPEN,
        "active": _OPEN,
        "to do": _OPEN,
        "doing": _OPEN,
        "approved": _OPEN,
        "committed": _OPEN,
        "category:removed": _WONT,
        "category:completed": _DONE,
        "category:resolved": _DONE,
        "category:proposed": _OPEN,
        "category:inprogress": _OPEN,
    },
    # Incident state numbers (1 New, 2 In Progress, 3 On Hold, 6 Resolved, 7 Closed,
    # 8 Canceled) and their labels.
    "servicenow": {
        "category:8": _WONT,
        "category:6": _DONE,
        "category:7": _DONE,
        **{f"category:{n}": _OPEN for n in ("1", "2", "3")},
        "8": _WONT,
        "canceled": _WONT,
        "6": _DONE,
        "7": _DONE,
        "resolved": _DONE,
        "closed": _DONE,
        "1": _OPEN,
        "2": _OPEN,
        "3": _OPEN,
        "new": _OPEN,
        "in progress": _OPEN,
        "on hold": _OPEN,
    },
}

# Kinds whose webhooks are applied: the trackers above, and Slack (buttons only).
INBOUND_KINDS: frozenset[str] = frozenset((*DEFAULTS, "slack"))

# The inbound settings every receiving kind accepts (validated with the connector's own
# fields, shown in the admin's form).
INBOUND_FIELDS: tuple[ConfigField, ...] = (
    ConfigField(
        "status_map",
        "Inbound status map",
        type="mapping",
        help=(
            'Remote status -> done | wont_do | reopened | ignore, e.g. {"Closed|Duplicate": '
            '"ignore", "category:done": "done"}; overrides the vendor defaults.'
        ),
    ),
    ConfigField(
        "own_account",
        "Own accounts",
        type="list",
        help="Vendor accounts FixOps writes as (id, login or e-mail): their changes are echoes.",
    ),
    ConfigField(
        "inbound_comments",
        "Mirror ticket comments",
        type="choice",
        choices=("off", "mirror"),
        default="off",
        help="mirror: comments on the ticket are added to the finding's comment thread.",
    ),
    ConfigField(
        "acceptance_days",
        "Won't-do acceptance days",
        type="integer",
        minimum=1,
        maximum=3650,
        default=90,
        help="Expiry of the risk-acceptance request a won't-do close asks for (capped by policy).",
    ),
)


def _norm(text: str) -> str:
    return (text or "").strip().casefold()


def keys(change: RemoteChange) -> list[str]:
    """The lookup keys of a status change, most specific first."""
    status, category, resolution = (
        _norm(change.status),
        _norm(change.status_category),
        _norm(change.resolution),
    )
    found = []
    if status:
        if resolution:
            found.append(f"{status}|{resolution}")
        found.append(status)
    if category:
        if resolution:
            found.append(f"category:{category}|{resolution}")
        found.append(f"category:{category}")
    return found


def classify(kind: str, change: RemoteChange, status_map: dict | None = None) -> Outcome:
    """What a status change means, by the integration's map, then the vendor's defaults."""
    overrides = {_norm(k): v for k, v in (status_map or {}).items() if isinstance(k, str)}
    candidates = keys(change)
    for key in candidates:
        if key in overrides:
            try:
                return Outcome(_norm(str(overrides[key])))
            except ValueError:
                return Outcome.IGNORE
    defaults = DEFAULTS.get(kind, {})
    for key in candidates:
        if key in defaults:
            return defaults[key]
    return Outcome.IGNORE


def status_map_error(value: object) -> str | None:
    """Why a `status_map` setting is not usable, or None (absent is fine)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        return "must be an object"
    wrong = sorted(
        str(k) for k, v in value.items() if str(v).strip().casefold() not in set(Outcome)
    )
    if wrong:
        return f"values must be one of {', '.join(Outcome)}; not for: {', '.join(wrong)}"
    return None
