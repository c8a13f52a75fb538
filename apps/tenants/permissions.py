"""Resolve the request's tenant and role once, then check role and token scope.

The tenant always comes from the credential: an API token belongs to one tenant; a signed-in
user acts in the tenant selected in their session among their memberships (or their only
one). Never from a query parameter, header or body alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission

from apps.tenants.authentication import TokenPrincipal
from apps.tenants.models import ApiToken, Tenant
from apps.tenants.roles import role_at_least
from apps.tenants.scopes import scope_granted
from apps.tenants.selectors import membership_list
from fixops.platform.errors import Forbidden

SESSION_TENANT_KEY = "fixops_tenant_id"


@dataclass(frozen=True)
class TenantContext:
    tenant: Tenant
    role: str
    token: ApiToken | None
    user: object | None  # the Django user for session requests


def resolve_tenant_context(request) -> TenantContext:
    """The tenant and role this request acts with, from its credential."""
    user = request.user
    if not user or not user.is_authenticated:
        raise exceptions.NotAuthenticated()
    if isinstance(user, TokenPrincipal):
        token = user.token
        return TenantContext(tenant=token.tenant, role=token.role, token=token, user=None)
    memberships = list(membership_list(user=user))
    selected = request.session.get(SESSION_TENANT_KEY) if hasattr(request, "session") else None
    chosen = [m for m in memberships if m.tenant_id == selected] if selected else []
    if not chosen and len(memberships) == 1:
        chosen = memberships
    if not chosen:
        code = "no_tenant" if not memberships else "tenant_not_selected"
        message = (
            "Your account is not a member of any tenant."
            if not memberships
            else 'Select a tenant first: POST /api/v1/me/tenant/ with {"tenant": "<slug>"}.'
        )
        raise exceptions.PermissionDenied(message, code=code)
    membership = chosen[0]
    return TenantContext(tenant=membership.tenant, role=membership.role, token=None, user=user)


class TenantRolePermission(BasePermission):
    """Sets request.tenant / request.tenant_context, then enforces the view's role and scope."""

    def has_permission(self, request, view) -> bool:
        context = resolve_tenant_context(request)
        request.tenant = context.tenant
        request.tenant_context = context
        needed_role = view.required_role(request.method)
        if not role_at_least(context.role, needed_role):
            raise Forbidden(
                f"This action needs the {needed_role} role; you have {context.role}.",
                code="permission_denied",
                details={"required": {"role": needed_role}, "role": context.role},
            )
        action = "read" if request.method in SAFE_METHODS else "write"
        needed_scope = f"{view.scope_resource}:{action}"
        if (
            view.requires_scope
            and context.token is not None
            and not scope_granted(context.token.scopes, needed_scope)
        ):
            raise Forbidden(
                f"This token lacks the scope {needed_scope}.",
                code="insufficient_scope",
                details={"required": {"scope": needed_scope}, "scopes": context.token.scopes},
            )
        return True
