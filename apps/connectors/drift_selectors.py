"""Reads of the drift report (apps/connectors/reconcile.py writes it)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.connectors.models import Drift, Integration


def drift_list(*, integration: Integration, filters: dict[str, Any] | None = None) -> QuerySet:
    """Drift rows of one integration (already tenant-checked), newest first; filter by kind
    and state ("open": not yet repaired, "repaired")."""
    filters = filters or {}
    qs = Drift.objects.filter(integration=integration, tenant_id=integration.tenant_id)
    if filters.get("kind"):
        qs = qs.filter(kind__in=filters["kind"])
    if filters.get("state") == "open":
        qs = qs.filter(repaired_at__isnull=True)
    elif filters.get("state") == "repaired":
        qs = qs.filter(repaired_at__isnull=False)
    return qs
