"""Writes of the read side: refreshing the derived analytics (nothing people change)."""

from __future__ import annotations

from apps.tenants.models import Tenant
from apps.workspace.analytics import snapshot
from fixops.platform.dbrouter import unit_of_work


def analytics_refresh(*, tenant_id: int | None = None) -> int:
    """Recompute the analytics snapshot of one tenant, or of every tenant when None; the
    number of tenants refreshed. The one entry point for beat and for data generators."""
    tenants = Tenant.objects.all() if tenant_id is None else Tenant.objects.filter(pk=tenant_id)
    done = 0
    for tenant in tenants.order_by("pk").iterator():
        # Each tenant is a unit of its own: the previous tenant's stored snapshot does not
        # pin this one's aggregates to the primary (they never read snapshots).
        with unit_of_work():
            snapshot.refresh(tenant)
        done += 1
    return done
