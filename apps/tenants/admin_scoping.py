"""Tenant- and role-aware admin: the same roles as the API decide what staff may do.

Staff act in one tenant at a time, as in the API: the one selected in their session (the
tenant switcher in the admin header, `accounts/tenant/`), else their first membership by
slug. They see that tenant's rows only; what they may do with a row depends on their role in
it (`admin_roles`: view/add/change/delete), each admin action needs a role (`role_action` or
the change role by default) and runs only on selected rows the user may act on, and
`field_roles` makes fields read-only below a role. Superusers see and may do everything.

Everything a page shows besides its rows is scoped here too, once, for every ModelAdmin and
inline: the choices of related-field list filters (the tenant filter included), foreign-key
and many-to-many choices of add and change forms (which also bound what a POST may pick),
and so autocompletes, which read the remote model's scoped `get_queryset`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ClassVar

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db.models import Model, Q, QuerySet

from apps.tenants.models import Tenant
from apps.tenants.permissions import SESSION_TENANT_KEY
from apps.tenants.roles import Role, role_at_least
from apps.tenants.selectors import membership_list
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


def admin_roles_for(request) -> dict[int, str] | None:
    """{tenant id: role} the request acts with in the admin: one tenant (the selected one, else
    the first membership by slug), {} without a membership, None for superusers (all)."""
    if request.user.is_superuser:
        return None
    if not hasattr(request, "_fixops_roles"):
        memberships = list(membership_list(user=request.user))
        selected = request.session.get(SESSION_TENANT_KEY) if hasattr(request, "session") else None
        chosen = [m for m in memberships if m.tenant_id == selected] or memberships[:1]
        request._fixops_roles = {m.tenant_id: m.role for m in chosen}
    return request._fixops_roles


def admin_tenant_ids(request, minimum: str = Role.VIEWER) -> list[int] | None:
    """Tenants where the request may act with at least `minimum` (None: superuser, all)."""
    roles = admin_roles_for(request)
    if roles is None:
        return None
    return [tid for tid, role in roles.items() if role_at_least(role, minimum)]


def tenant_path(admin_site, model: type[Model]) -> str | None:
    """The lookup from `model` to its tenant's id, or None for data that is no tenant's."""
    if model is Tenant:
        return "pk"
    registered = admin_site._registry.get(model)
    if isinstance(registered, TenantScopedAdmin):
        return registered.tenant_field
    if any(f.name == "tenant" for f in model._meta.get_fields()):
        return "tenant"
    return None


def scope_to_tenants(admin_site, request, model: type[Model], queryset: QuerySet) -> QuerySet:
    """`queryset` of `model` cut to the tenants the request acts in.

    Rows with a tenant keep the request's tenants'; people keep the members of those tenants
    (adding someone to a tenant is the IdP mapping's or a superuser's job, so an admin cannot
    probe other tenants' accounts); reference data of no tenant (vulnerabilities, signing
    keys) is left alone; rows shared by every tenant (`global_rows`) stay.
    """
    ids = admin_tenant_ids(request)
    if ids is None:
        return queryset
    if model is get_user_model():
        return queryset.filter(memberships__tenant__in=ids).distinct()
    path = tenant_path(admin_site, model)
    if path is None:
        return queryset
    mine = Q(**{f"{path}__in": ids})
    registered = admin_site._registry.get(model)
    if getattr(registered, "global_rows", False):
        mine |= Q(**{f"{path}__isnull": True})
    return queryset.filter(mine)


class ScopedRawIdWidget(ForeignKeyRawIdWidget):
    """Shows the label of the chosen row only when it is in the field's scoped queryset.

    Django's widget looks a posted id up in the whole table, so a form re-rendered after a
    POST naming another tenant's row would print that row's name next to the error.
    """

    def __init__(self, rel, admin_site, queryset: QuerySet, **kwargs) -> None:
        super().__init__(rel, admin_site, **kwargs)
        self.queryset = queryset

    def label_and_url_for_value(self, value):
        key = self.rel.get_related_field().name
        try:
            if not self.queryset.filter(**{key: value}).exists():
                return "", ""
        except (ValueError, ValidationError):
            return "", ""
        return super().label_and_url_for_value(value)


class TenantScopedChoices:
    """Foreign-key and many-to-many choices of forms (and so what a POST may pick) cut to the
    request's tenants; shared by TenantScopedAdmin and TenantScopedInline."""

    def _scoped_field_kwargs(self, db_field, request, kwargs: dict) -> dict:
        if "queryset" in kwargs:
            return kwargs
        model = db_field.related_model
        if model is Tenant:
            # Rows can only be created in tenants where the user may add them.
            ids = admin_tenant_ids(request, self.role_needed("add"))
            queryset = Tenant.objects.all() if ids is None else Tenant.objects.filter(pk__in=ids)
        else:
            base = self.get_field_queryset(None, db_field, request)
            base = model._default_manager.all() if base is None else base
            queryset = scope_to_tenants(self.admin_site, request, model, base)
        kwargs = {**kwargs, "queryset": queryset}
        single = db_field.many_to_one or db_field.one_to_one
        if single and db_field.name in self.raw_id_fields and "widget" not in kwargs:
            kwargs["widget"] = ScopedRawIdWidget(
                db_field.remote_field, self.admin_site, queryset, using=kwargs.get("using")
            )
        return kwargs

    def role_needed(self, perm: str) -> str:
        return DEFAULT_ADMIN_ROLES[perm]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs = self._scoped_field_kwargs(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs = self._scoped_field_kwargs(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A related-field filter offering only the request's tenants' objects (Django's lists
    every row of the related table: other tenants' integrations, policies and slugs)."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        model = field.related_model
        scoped = scope_to_tenants(
            model_admin.admin_site, request, model, model._default_manager.all()
        )
        return field.get_choices(
            include_blank=False,
            ordering=ordering,
            limit_choices_to={"pk__in": scoped.values("pk")},
        )


class TenantScopedInline(TenantScopedChoices, admin.options.InlineModelAdmin):
    """Base of every inline of a TenantScopedAdmin (its rows follow the parent's)."""


class TenantScopedTabularInline(TenantScopedInline, admin.TabularInline):
    pass


class TenantScopedAdmin(TenantScopedChoices, AuditedAdmin):
    """Base ModelAdmin for rows with a `tenant` (or a path to one, `tenant_field`)."""

    tenant_field = "tenant"
    admin_roles: ClassVar[dict[str, str]] = {}
    field_roles: ClassVar[dict[str, str]] = {}
    # True where a row without a tenant is shared by every tenant (global policies, which the
    # API offers to all): staff may view and pick such rows, never change or delete them.
    global_rows: ClassVar[bool] = False

    # --- roles ---------------------------------------------------------------------------
    def _roles(self, request) -> dict[int, str] | None:
        """{tenant id: role} for staff (the tenant they act in); None for superusers."""
        return admin_roles_for(request)

    def _tenant_ids(self, request, minimum: str = Role.VIEWER) -> list[int] | None:
        return admin_tenant_ids(request, minimum)

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
        tenant_id = self.obj_tenant_id(obj)
        if tenant_id is None and self.global_rows and perm == "view":
            return bool(ids)
        return tenant_id in ids

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
        if ids is None:
            return qs
        mine = Q(**{f"{self.tenant_field}__in": ids})
        if self.global_rows:
            mine |= Q(**{f"{self.tenant_field}__isnull": True})
        return qs.filter(mine)

    def get_list_filter(self, request):
        """Related-field filters offer only the request's tenants' objects."""
        filters = []
        for item in super().get_list_filter(request):
            path, kind = (item, None) if isinstance(item, str) else (None, item)
            if isinstance(item, tuple | list):
                path, kind = item
            if path is None:
                filters.append(item)
                continue
            field = get_fields_from_path(self.model, path)[-1]
            plain = kind is None or kind is admin.RelatedFieldListFilter
            if field.is_relation and plain:
                filters.append((path, ScopedRelatedFieldListFilter))
            else:
                filters.append(item)
        return filters

    def get_inline_instances(self, request, obj=None):
        for inline in self.inlines:
            if not issubclass(inline, TenantScopedInline):
                raise ImproperlyConfigured(
                    f"{inline.__name__} (an inline of {type(self).__name__}) must subclass "
                    "apps.tenants.admin_scoping.TenantScopedInline so its choices are scoped."
                )
        return super().get_inline_instances(request, obj)

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
