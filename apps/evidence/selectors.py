"""Reads for evidence bundles and audit events; the tenant always comes first."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.evidence.models import EvidenceBundle
from apps.tenants.models import Tenant
from apps.tenants.scoping import get_scoped_or_404
from fixops.platform.models import AuditEvent


def evidence_list(
    *, tenant: Tenant, filters: dict[str, Any] | None = None
) -> QuerySet[EvidenceBundle]:
    """Bundles of `tenant`, newest first; filter by decision, application and time range."""
    filters = filters or {}
    qs = EvidenceBundle.objects.for_tenant(tenant)
    if filters.get("decision"):
        qs = qs.filter(decision_id=filters["decision"])
    if filters.get("application"):
        qs = qs.filter(decision__application_id=filters["application"])
    if filters.get("from"):
        qs = qs.filter(created_at__gte=filters["from"])
    if filters.get("to"):
        qs = qs.filter(created_at__lt=filters["to"])
    return qs


def evidence_get(*, tenant: Tenant, evidence_id: int) -> EvidenceBundle:
    """One bundle of `tenant`; NotFound whether it is missing or another tenant's."""
    return get_scoped_or_404(
        EvidenceBundle.objects.select_related(
            "decision__policy_version__policy", "decision__application"
        ),
        tenant=tenant,
        pk=evidence_id,
    )


def audit_event_list(
    *, tenant: Tenant, filters: dict[str, Any] | None = None
) -> QuerySet[AuditEvent]:
    """Audit events of `tenant`'s chain, newest first; filter by target, action and actor."""
    filters = filters or {}
    if tenant is None or tenant.pk is None:
        raise ValueError("audit_event_list() needs a saved tenant; refusing an unscoped query")
    qs = AuditEvent.objects.filter(tenant_id=tenant.pk)
    for field in ("target_type", "target_id", "action", "actor"):
        if filters.get(field):
            qs = qs.filter(**{field: filters[field]})
    return qs
