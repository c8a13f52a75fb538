"""The finding lifecycle: one status field and one transition table, checked in one place.

DefectDojo's many booleans allowed states like active + verified + duplicate at once; a single
status with explicit transitions makes such combinations unrepresentable.
"""

from __future__ import annotations

from apps.findings.models.finding import FindingStatus as S

TRANSITIONS: dict[str, frozenset[str]] = {
    S.OPEN: frozenset({S.TRIAGED, S.IN_PROGRESS, S.FIXED, S.RISK_ACCEPTED, S.FALSE_POSITIVE}),
    S.TRIAGED: frozenset({S.IN_PROGRESS, S.FIXED, S.RISK_ACCEPTED, S.FALSE_POSITIVE, S.OPEN}),
    S.IN_PROGRESS: frozenset({S.FIXED, S.RISK_ACCEPTED, S.FALSE_POSITIVE, S.TRIAGED}),
    S.FIXED: frozenset({S.VERIFIED, S.REOPENED}),
    S.VERIFIED: frozenset({S.REOPENED}),
    S.RISK_ACCEPTED: frozenset({S.OPEN, S.REOPENED, S.FIXED}),
    S.FALSE_POSITIVE: frozenset({S.OPEN, S.REOPENED}),
    S.REOPENED: frozenset({S.TRIAGED, S.IN_PROGRESS, S.FIXED, S.RISK_ACCEPTED, S.FALSE_POSITIVE}),
}

# Statuses in which a finding still needs work; a scan that no longer reports such a finding
# moves it to FIXED. Risk-accepted and false-positive findings are left as people decided.
ACTIVE = frozenset({S.OPEN, S.TRIAGED, S.IN_PROGRESS, S.REOPENED})
# Statuses a finding leaves for REOPENED when a scan reports it again.
CLOSED = frozenset({S.FIXED, S.VERIFIED})


class TransitionError(ValueError):
    pass


def check_transition(current: str, target: str) -> None:
    """Raise TransitionError unless `current` -> `target` is allowed."""
    if target not in TRANSITIONS.get(current, frozenset()):
        allowed = ", ".join(sorted(TRANSITIONS.get(current, ()))) or "none"
        raise TransitionError(
            f"cannot move a finding from {current} to {target}; allowed: {allowed}"
        )
