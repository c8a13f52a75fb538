"""Tenant- and role-aware admin: the same roles as the API decide what staff may do.

Staff see the rows of tenants they are members of; what they may do with a row depends on
their role in *that row's* tenant (`admin_roles`: view/add/change/delete), each admin action
needs a role (`role_action` or the change role by default) and runs only on the selected
rows of tenants where the user has it, and `field_roles` makes fields read-only below a role.
Superusers see and may do everything.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ClassVar

from django.core.exceptions import PermissionDenied

from apps.tenants.models import Tenant
from apps.tenants.roles import Role, role_at_least
from apps.tenants.selectors import user_roles
from fixops.platform.admin_audit import AuditedAdmin

DEFAULT_ADMIN_ROLES = {
    "view": Role.VIEWER,
    "add": Role.ANALYST,
    "change": Role.ANALYST,
    "delete": Role.ADMIN,
}


_ORDER = [Role.VIEWER, Role.ANALYST, Role.APPROVER, Role.ADMIN]


def role_action(role: str) -> Callable:
    """Mark an admin action as needing `role` in the tenant of every row it touches."""

    def mark(func: Callable) -> Callable:
        func.required_role = role
        return func

    return mark


class TenantScopedAdmin(AuditedAdmin):
    """Base ModelAdmin for rows with a `tenant` (or a path to one, `tenant_field`)."""

    tenant_field = "tenant"
    admin_roles: ClassVar[dict[str, str]] = {}
    field_roles: ClassVar[dict[str, str]] = {}

    # --- roles ---------------------------------------------------------------------------
    def _roles(self, request) -> dict[int, str] | None:
        """{tenant id: role} for staff; None for superusers (no restriction)."""
        if request.user.is_superuser:
            return None
        if not hasattr(request, "_fixops_roles"):
            request._fixops_roles = user_roles(user=request.user)
        return request._fixops_roles

    def _tenant_ids(self, request, minimum: str = Role.VIEWER) -> list[int] | None:
        roles = self._roles(request)
        if roles is None:
            return None
        return [tid for tid, role in roles.items() if role_at_least(role, minimum)]

    def role_needed(self, perm: str) -> str:
        return {**DEFAULT_ADMIN_ROLES, **self.admin_roles}[perm]

    def obj_tenant_id(self, obj) -> int | None:
        target = obj
        parts = self.tenant_field.split("__")
        for part in parts[:-1]:
            target = getattr(target, part, None)
            if target is None:
                return None
        last = parts[-1]
        return target.pk if last == "pk" else getattr(target, f"{last}_id", None)

    def _allowed(self, request, perm: str, obj=None) -> bool:
        if not request.user.is_active or not request.user.is_staff:
            return False
        ids = self._tenant_ids(request, self.role_needed(perm))
        if ids is None:
            return True
        if obj is None:
            return bool(ids)
        return self.obj_tenant_id(obj) in ids

    def has_module_permission(self, request):
        return self._allowed(request, "view")

    def has_view_permission(self, request, obj=None):
        return self._allowed(request, "view", obj) or self.has_change_permission(request, obj)

    def has_add_permission(self, request):
        return self._allowed(request, "add")

    def has_change_permission(self, request, obj=None):
        return self._allowed(request, "change", obj)

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request, "delete", obj)

    # --- rows, fields, actions ------------------------------------------------------------
    def get_queryset(self, request):
        qs = super().get_queryset(request)
        ids = self._tenant_ids(request)
        return qs if ids is None else qs.filter(**{f"{self.tenant_field}__in": ids})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Tenant:
            # Rows can only be created in tenants where the user may add them.
            ids = self._tenant_ids(request, self.role_needed("add"))
            if ids is not None:
                kwargs["queryset"] = Tenant.objects.filter(pk__in=ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        roles = self._roles(request)
        if roles is None or not self.field_roles:
            return fields
        role = roles.get(self.obj_tenant_id(obj)) if obj is not None else None
        for name, minimum in self.field_roles.items():
            if (role is None or not role_at_least(role, minimum)) and name not in fields:
                fields.append(name)
        return fields

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self._roles(request) is None:
            return actions
        allowed = {}
        for name, (func, action_name, description) in actions.items():
            needed = getattr(func, "required_role", None) or self._action_role(func)
            ids = self._tenant_ids(request, needed)
            if ids:
                allowed[name] = (self._scoped_action(func, ids), action_name, description)
        return allowed

    def _action_role(self, func: Callable) -> str:
        """The highest role among the action's Django `allowed_permissions` (default change)."""
        perms = [p for p in getattr(func, "allowed_permissions", ()) if p in DEFAULT_ADMIN_ROLES]
        roles = [self.role_needed(p) for p in perms] or [self.role_needed("change")]
        return max(roles, key=_ORDER.index)

    def _scoped_action(self, func: Callable, ids: list[int]) -> Callable:
        field = f"{self.tenant_field}__in"

        @wraps(func)
        def scoped(modeladmin, request, queryset):
            return func(modeladmin, request, queryset.filter(**{field: ids}))

        return scoped

    def save_model(self, request, obj, form, change):
        ids = self._tenant_ids(request, self.role_needed("change" if change else "add"))
        if ids is not None and self.obj_tenant_id(obj) not in ids:
            raise PermissionDenied("You may only change rows of tenants where your role allows it.")
        super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        if not self.has_delete_permission(request, obj):
            raise PermissionDenied("Deleting needs the admin role in this row's tenant.")
        super().delete_model(request, obj)
