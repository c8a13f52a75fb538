"""The one tenant-scoping mechanism every query goes through.

Every tenant-owned model subclasses `TenantOwned`, whose manager offers `for_tenant(tenant)`.
Selectors start from it; `get_scoped_or_404` fetches one row and raises the same NotFound
whether the row is missing or belongs to another tenant, so ids never leak across tenants.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models

from fixops.platform.errors import NotFound

if TYPE_CHECKING:
    from apps.tenants.models import Tenant

M = TypeVar("M", bound=models.Model)


class TenantQuerySet(models.QuerySet):
    def for_tenant(self, tenant: Tenant) -> TenantQuerySet:
        if tenant is None or tenant.pk is None:
            raise ValueError("for_tenant() needs a saved tenant; refusing an unscoped query")
        return self.filter(tenant_id=tenant.pk)


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    pass


class TenantOwned(models.Model):
    """Abstract base of every row that belongs to a tenant."""

    # No index of its own: every tenant-owned table has composite indexes that lead with the
    # tenant or with a tenant-scoped parent; one more index per table slows bulk imports.
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False
    )

    objects = TenantManager()

    class Meta:
        abstract = True


def get_scoped_or_404(queryset: models.QuerySet[M], *, tenant: Tenant, **lookup: Any) -> M:
    """One row of `tenant` or NotFound; another tenant's row is indistinguishable from none."""
    try:
        return queryset.filter(tenant_id=tenant.pk).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None
