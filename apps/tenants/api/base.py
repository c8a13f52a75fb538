"""`TenantApi`: the base of every tenant-scoped endpoint.

It resolves the tenant once from the credential (see permissions.py), checks the role needed
for the HTTP method and the token's scope, and exposes `request.tenant`. Subclasses declare
`scope_resource` and may tighten `role_map`; they may not replace the lookup (enforced in
`__init_subclass__`, as PostHog does), so no endpoint can forget the tenant.
"""

from __future__ import annotations

from typing import ClassVar

from rest_framework.views import APIView

from apps.tenants.permissions import TenantRolePermission
from apps.tenants.roles import Role

DEFAULT_ROLE_MAP = {
    "GET": Role.VIEWER,
    "HEAD": Role.VIEWER,
    "OPTIONS": Role.VIEWER,
    "POST": Role.ANALYST,
    "PUT": Role.ANALYST,
    "PATCH": Role.ANALYST,
    "DELETE": Role.ADMIN,
}

_SEALED = ("initial", "check_permissions", "get_permissions")


class TenantApi(APIView):
    permission_classes = [TenantRolePermission]
    scope_resource: ClassVar[str] = ""
    role_map: ClassVar[dict[str, str]] = {}
    # False only for endpoints every credential may call whatever its scopes (GET /me/).
    requires_scope: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        for name in _SEALED:
            if name in cls.__dict__:
                raise TypeError(f"{cls.__name__} may not override TenantApi.{name}")
        if TenantRolePermission not in cls.permission_classes:
            raise TypeError(f"{cls.__name__} must keep TenantRolePermission")
        if not cls.scope_resource and not cls.__name__.startswith("_"):
            raise TypeError(f"{cls.__name__} must declare scope_resource")

    @classmethod
    def required_role(cls, method: str) -> str:
        return cls.role_map.get(method, DEFAULT_ROLE_MAP.get(method, Role.ADMIN))


def actor_label(request) -> str:
    """Who acts, for audit records: "user:<username>" or "token:<prefix>"."""
    context = request.tenant_context
    if context.token is not None:
        return f"token:{context.token.prefix}"
    return f"user:{context.user.get_username()}"
