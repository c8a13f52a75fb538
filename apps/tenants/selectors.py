"""Reads for tenants, memberships, teams and tokens."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from apps.tenants.models import ApiToken, Membership, Team, Tenant
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


def team_list(*, tenant: Tenant) -> QuerySet[Team]:
    """Teams of `tenant` by name, members fetched alongside."""
    return Team.objects.filter(tenant=tenant).prefetch_related("members").order_by("name", "id")


def team_get(*, tenant: Tenant, team_id: int) -> Team:
    """One team of `tenant`; NotFound whether it is missing or another tenant's."""
    return get_scoped_or_404(Team.objects.prefetch_related("members"), tenant=tenant, pk=team_id)


def tenant_member_get(*, tenant: Tenant, username: str) -> AbstractBaseUser | None:
    """The active user named `username` with a membership in `tenant`, or None."""
    return (
        get_user_model()
        .objects.filter(username=username, is_active=True, memberships__tenant=tenant)
        .first()
    )


def tenant_members_among(*, tenant: Tenant, user_ids: Iterable[int]) -> set[int]:
    """The ids among `user_ids` of users with a membership in `tenant`."""
    return set(
        Membership.objects.filter(tenant=tenant, user_id__in=list(user_ids)).values_list(
            "user_id", flat=True
        )
    )


def tenant_member_list(*, tenant: Tenant) -> QuerySet:
    """Active users with a membership in `tenant`, by username."""
    return (
        get_user_model()
        .objects.filter(is_active=True, memberships__tenant=tenant)
        .order_by("username")
    )
