"""Writes of the read side: refreshing the derived analytics (nothing people change)."""

from __future__ import annotations

from apps.tenants.models import Tenant
from apps.workspace.analytics import snapshot


def analytics_refresh(*, tenant_id: int | None = None) -> int:
    """Recompute the analytics snapshot of one tenant, or of every tenant when None; the
    number of tenants refreshed. The one entry point for beat and for data generators."""
    tenants = Tenant.objects.all() if tenant_id is None else Tenant.objects.filter(pk=tenant_id)
    done = 0
    for tenant in tenants.order_by("pk").iterator():
        snapshot.refresh(tenant)
        done += 1
    return done
