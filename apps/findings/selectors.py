"""Reads for applications and findings; the tenant always comes first."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from apps.findings.models import Application
from apps.tenants.models import Tenant
from apps.tenants.scoping import get_scoped_or_404

APPLICATION_ORDERINGS = ("name", "-name", "created_at", "-created_at", "criticality")


def application_list(
    *, tenant: Tenant, filters: dict[str, Any] | None = None
) -> QuerySet[Application]:
    """Applications of `tenant`, filtered by exact fields and a free-text `q`."""
    filters = filters or {}
    qs = Application.objects.for_tenant(tenant)
    for field in ("criticality", "internet_exposed", "data_classification"):
        if filters.get(field) is not None:
            qs = qs.filter(**{field: filters[field]})
    if filters.get("name"):
        qs = qs.filter(name=filters["name"])
    if filters.get("q"):
        qs = qs.filter(Q(name__icontains=filters["q"]) | Q(repo_url__icontains=filters["q"]))
    ordering = filters.get("ordering") or "name"
    return qs.order_by(ordering, "id")


def application_get(*, tenant: Tenant, application_id: int) -> Application:
    """One application of `tenant`; NotFound whether it is missing or another tenant's."""
    return get_scoped_or_404(Application.objects.all(), tenant=tenant, pk=application_id)
