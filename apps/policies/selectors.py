"""Reads for policies, assignments, decisions and risk acceptances; the tenant always comes
first, and a row of another tenant is the same NotFound as a missing one."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from apps.findings.models import Finding, Scan
from apps.policies.inputs import path_matches
from apps.policies.models import (
    AcceptanceScope,
    Decision,
    Policy,
    PolicyAssignment,
    PolicyVersion,
    RiskAcceptance,
)
from apps.tenants.models import Tenant
from apps.tenants.scoping import get_scoped_or_404
from fixops.platform.errors import NotFound

DECISION_FILTERS = (
    ("application", "application_id"),
    ("outcome", "outcome"),
    ("commit", "commit"),
    ("branch", "branch"),
    ("scan", "scans"),
)


def policy_list(*, tenant: Tenant) -> QuerySet[Policy]:
    """The tenant's own policies and the global ones, by name."""
    return (
        Policy.objects.filter(Q(tenant=tenant) | Q(tenant__isnull=True))
        .select_related("active_version")
        .order_by("name", "id")
    )


def policy_get(*, tenant: Tenant, policy_id: int) -> Policy:
    """A policy of `tenant` or a global one; anything else is NotFound."""
    policy = policy_list(tenant=tenant).filter(pk=policy_id).first()
    if policy is None:
        raise NotFound("Not found.", code="not_found")
    return policy


def policy_version_list(*, policy: Policy) -> QuerySet[PolicyVersion]:
    """The versions of a policy the caller already may see, newest first."""
    return PolicyVersion.objects.filter(policy=policy).order_by("-number")


def assignment_list(*, tenant: Tenant) -> QuerySet[PolicyAssignment]:
    """The tenant's policy assignments, oldest first."""
    return PolicyAssignment.objects.for_tenant(tenant).select_related("policy").order_by("id")


def assignment_get(*, tenant: Tenant, assignment_id: int) -> PolicyAssignment:
    """One assignment of `tenant`; NotFound whether it is missing or another tenant's."""
    return get_scoped_or_404(PolicyAssignment.objects.all(), tenant=tenant, pk=assignment_id)


def decision_list(*, tenant: Tenant, filters: dict[str, Any] | None = None) -> QuerySet[Decision]:
    """Decisions of `tenant`, newest first, without their (large) input and result documents;
    filter by application, outcome, commit, branch and scan."""
    filters = filters or {}
    # A list row shows its scans' ids and its bundle's id, and the decision's subjects name
    # the scans' formats and digests: not their import details (counts, noise, skipped
    # results) nor the bundle's subjects and pending envelope (tests/bench/
    # test_bench_api_output.py).
    scans = Scan.objects.only("id", "format", "sha256")
    queryset = (
        Decision.objects.for_tenant(tenant)
        .select_related("application", "policy_version__policy", "evidence")
        .prefetch_related(Prefetch("scans", queryset=scans))
        .defer("input", "result", "evidence__subjects", "evidence__pending_token")
    )
    for name, lookup in DECISION_FILTERS:
        if name in filters:
            queryset = queryset.filter(**{lookup: filters[name]})
    return queryset


def decision_get(*, tenant: Tenant, decision_id: int, documents: bool = False) -> Decision:
    """One decision of `tenant` (with its input and result documents when `documents`);
    NotFound whether it is missing or another tenant's."""
    queryset = decision_list(tenant=tenant)
    if documents:
        queryset = queryset.defer(None)
    return get_scoped_or_404(queryset, tenant=tenant, pk=decision_id)


def acceptance_list(
    *, tenant: Tenant, filters: dict[str, Any] | None = None
) -> QuerySet[RiskAcceptance]:
    """Risk acceptances of `tenant`; filter by status and application."""
    filters = filters or {}
    queryset = RiskAcceptance.objects.for_tenant(tenant)
    if "status" in filters:
        queryset = queryset.filter(status=filters["status"])
    if "application" in filters:
        queryset = queryset.filter(application_id=filters["application"])
    return queryset


def acceptance_get(*, tenant: Tenant, acceptance_id: int) -> RiskAcceptance:
    """One risk acceptance of `tenant`; NotFound whether it is missing or another tenant's."""
    return get_scoped_or_404(RiskAcceptance.objects.all(), tenant=tenant, pk=acceptance_id)


def acceptances_covering(
    *, tenant: Tenant, finding: Finding, limit: int = 20
) -> list[RiskAcceptance]:
    """Risk acceptances of `tenant` (any status, newest first) that name `finding`: by id, by
    its vulnerability (or an alias) in its application or everywhere, or by its rule and a
    path glob that matches its path."""
    vuln_ids = [v for v in [finding.vuln_id, *(finding.aliases or [])] if v]
    by_vuln = Q(scope=AcceptanceScope.VULNERABILITY_ALL) | Q(
        scope=AcceptanceScope.VULNERABILITY_APP, application_id=finding.application_id
    )
    vuln_match = Q()
    for vuln in vuln_ids[:20]:
        vuln_match |= Q(vuln_id__iexact=vuln)
    match = Q(scope=AcceptanceScope.FINDING, finding_id=finding.pk)
    if vuln_ids:
        match |= by_vuln & vuln_match
    if finding.rule_id:
        match |= Q(scope=AcceptanceScope.RULE_PATH, rule_id=finding.rule_id) & (
            Q(application_id__isnull=True) | Q(application_id=finding.application_id)
        )
    rows = RiskAcceptance.objects.for_tenant(tenant).filter(match).order_by("-id")[: limit * 2]
    kept = [
        a
        for a in rows
        if a.scope != AcceptanceScope.RULE_PATH or path_matches(finding.path, a.path_pattern)
    ]
    return kept[:limit]
