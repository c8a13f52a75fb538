"""The tenant an admin request acts in (the one the header's switcher selected)."""

from __future__ import annotations

from apps.tenants.admin_scoping import admin_roles_for
from apps.tenants.models import Tenant
from apps.tenants.permissions import SESSION_TENANT_KEY


def request_tenant(request) -> Tenant | None:
    """Staff act in exactly one tenant; a superuser in the one they selected, else in none
    (their lists span every tenant, and choices that need a tenant are left out)."""
    if not hasattr(request, "_fixops_tenant"):
        roles = admin_roles_for(request)
        if roles is None:
            session = getattr(request, "session", {})
            ids = [session[SESSION_TENANT_KEY]] if session.get(SESSION_TENANT_KEY) else []
        else:
            ids = list(roles)
        request._fixops_tenant = Tenant.objects.filter(pk__in=ids[:1]).first() if ids else None
    return request._fixops_tenant
