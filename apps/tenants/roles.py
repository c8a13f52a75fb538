"""Roles, ordered by what they may do. Each role includes everything the roles below it may."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"  # read findings, decisions, evidence
    ANALYST = "analyst", "Analyst"  # upload scans, triage, request acceptances
    APPROVER = "approver", "Approver"  # approve risk acceptances (GRC)
    ADMIN = "admin", "Admin"  # manage applications, tokens, integrations, policies


_RANK = {Role.VIEWER: 0, Role.ANALYST: 1, Role.APPROVER: 2, Role.ADMIN: 3}


def role_at_least(role: str, minimum: str) -> bool:
    """True when `role` grants at least what `minimum` grants (ValueError for no role)."""
    try:  # Role members hash as their values: plain strings need no conversion
        return _RANK[role] >= _RANK[minimum]
    except KeyError:
        return _RANK[Role(role)] >= _RANK[Role(minimum)]
