"""Tenant-aware admin: staff see only their tenants' rows; superusers see everything."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied

from apps.tenants.models import Tenant
from apps.tenants.selectors import tenant_ids_for_user


class TenantScopedAdmin(admin.ModelAdmin):
    """Base ModelAdmin for rows with a `tenant` (or a path to one, `tenant_field`)."""

    tenant_field = "tenant"

    def _tenant_ids(self, request) -> list[int] | None:
        if request.user.is_superuser:
            return None
        if not hasattr(request, "_fixops_tenant_ids"):
            request._fixops_tenant_ids = tenant_ids_for_user(user=request.user)
        return request._fixops_tenant_ids

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        ids = self._tenant_ids(request)
        return qs if ids is None else qs.filter(**{f"{self.tenant_field}__in": ids})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        ids = self._tenant_ids(request)
        if ids is not None and db_field.related_model is Tenant:
            kwargs["queryset"] = Tenant.objects.filter(pk__in=ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        ids = self._tenant_ids(request)
        tenant_id = getattr(obj, f"{self.tenant_field}_id", None)
        if ids is not None and tenant_id not in ids:
            raise PermissionDenied("You may only change rows of your own tenants.")
        super().save_model(request, obj, form, change)
