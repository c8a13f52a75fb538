"""Reads for tenants, memberships and tokens."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from apps.tenants.models import ApiToken, Membership, Tenant
from apps.tenants.roles import Role
from apps.tenants.scoping import get_scoped_or_404


def tenant_get_by_slug(*, slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()


def membership_list(*, user: AbstractBaseUser) -> QuerySet[Membership]:
    """Active-tenant memberships of `user`."""
    return Membership.objects.filter(user=user, tenant__is_active=True).select_related("tenant")


def tenant_ids_for_user(*, user: AbstractBaseUser) -> list[int]:
    """Tenants whose rows `user` may see in the admin (superusers: callers skip the filter)."""
    return list(membership_list(user=user).values_list("tenant_id", flat=True))


def user_role_in(*, user: AbstractBaseUser, tenant: Tenant) -> str | None:
    """`user`'s role in `tenant` (superusers act as admin), or None without a membership."""
    if not user or not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    membership = membership_list(user=user).filter(tenant=tenant).first()
    return membership.role if membership else None


def user_roles(*, user: AbstractBaseUser) -> dict[int, str]:
    """{tenant id: role} for every active-tenant membership of `user`."""
    return dict(membership_list(user=user).values_list("tenant_id", "role"))


def api_token_list(*, tenant: Tenant) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(tenant=tenant)


def api_token_get_by_prefix(*, prefix: str) -> ApiToken | None:
    return ApiToken.objects.select_related("tenant").filter(prefix=prefix).first()


def api_token_get(*, tenant: Tenant, prefix: str) -> ApiToken:
    """One token of `tenant` by prefix; NotFound for unknown or foreign prefixes."""
    return get_scoped_or_404(
        ApiToken.objects.select_related("tenant"), tenant=tenant, prefix=prefix
    )
