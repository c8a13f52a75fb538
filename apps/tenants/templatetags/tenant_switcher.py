"""`{% tenant_switcher %}`: the admin header's tenant switcher (staff with several tenants).

The only place a page names another tenant: the viewer's own memberships, so they can act in
another of them. One-tenant staff see their tenant's name; superusers (all tenants) nothing.
"""

from __future__ import annotations

from django import template

from apps.tenants.admin_scoping import admin_roles_for
from apps.tenants.selectors import membership_list

register = template.Library()


@register.inclusion_tag("admin/fixops_tenant_switcher.html", takes_context=True)
def tenant_switcher(context) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.is_superuser:
        return {"memberships": []}
    memberships = list(membership_list(user=user))
    current = next(iter(admin_roles_for(request) or {}), None)
    return {
        "memberships": memberships,
        "current": next((m for m in memberships if m.tenant_id == current), None),
        "next": request.get_full_path(),
        "csrf_token": context.get("csrf_token"),
    }
