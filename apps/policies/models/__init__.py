"""Policies (versioned Rego), their assignment, gate decisions and governed risk acceptances."""

from apps.policies.models.acceptance import AcceptanceScope, AcceptanceStatus, RiskAcceptance
from apps.policies.models.decision import Decision, Outcome
from apps.policies.models.policy import (
    AssignmentMode,
    Policy,
    PolicyAssignment,
    PolicySettings,
    PolicyVersion,
)

__all__ = [
    "AcceptanceScope",
    "AcceptanceStatus",
    "AssignmentMode",
    "Decision",
    "Outcome",
    "Policy",
    "PolicyAssignment",
    "PolicySettings",
    "PolicyVersion",
    "RiskAcceptance",
]
