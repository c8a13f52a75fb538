"""Just-in-time provisioning for SSO sign-ins, shared by OIDC and SAML.

A user is found by (issuer, subject) — never by e-mail, which IdPs let people change and
which two IdPs may both assert. Memberships granted by a provider's mapping are marked as
managed by it and re-evaluated at every sign-in through it: a tenant the mapping no longer
grants loses the membership. Memberships granted by hand are left alone.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from apps.tenants.models import Membership, SsoIdentity, Tenant
from apps.tenants.sso.config import OidcProviderConfig, SamlProviderConfig
from apps.tenants.sso.mapping import grants_for
from fixops.platform.audit import audit_record

logger = logging.getLogger(__name__)


class SsoError(Exception):
    """A sign-in is refused; `message` is safe to show to the person signing in."""

    def __init__(self, message: str, *, code: str = "sso_refused") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class SsoProfile:
    """What an IdP asserted about the person, normalised across protocols."""

    issuer: str
    subject: str
    email: str = ""
    name: str = ""
    username_hint: str = ""
    groups: tuple[str, ...] = ()
    claims: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class SsoResult:
    user: AbstractBaseUser
    granted: dict[str, str]  # tenant slug -> role
    removed: list[str]  # tenant slugs whose managed membership was removed


def _username(profile: SsoProfile) -> str:
    base = profile.username_hint or profile.email.split("@")[0] or "sso-user"
    base = re.sub(r"[^\w.@+-]", "-", base)[:120] or "sso-user"
    user_model = get_user_model()
    candidate = base
    while user_model.objects.filter(username=candidate).exists():
        candidate = f"{base}-{secrets.token_hex(3)}"
    return candidate


def sso_sign_in(
    *, provider: OidcProviderConfig | SamlProviderConfig, profile: SsoProfile
) -> SsoResult:
    """The user for `profile` (created just in time) with memberships synced to the mapping."""
    if not profile.subject:
        raise SsoError("The identity provider did not send a subject.", code="sso_no_subject")
    granted = grants_for(provider.rules, groups=profile.groups, claims=profile.claims or {})
    source = f"{provider.protocol}:{provider.slug}"
    with transaction.atomic():
        identity = (
            SsoIdentity.objects.select_for_update()
            .select_related("user")
            .filter(issuer=profile.issuer, subject=profile.subject)
            .first()
        )
        if identity is None and not granted and settings.FIXOPS_SSO_REQUIRE_MEMBERSHIP:
            raise SsoError(_no_access_message(provider), code="sso_no_membership")
        if identity is None:
            user = get_user_model()(username=_username(profile), email=profile.email)
            user.set_unusable_password()
            user.save()
            identity = SsoIdentity.objects.create(
                user=user,
                protocol=provider.protocol,
                provider=provider.slug,
                issuer=profile.issuer,
                subject=profile.subject,
            )
            audit_record(
                tenant=None,  # an account is no tenant's: the global chain records it
                actor=f"sso:{source}",
                action="sso.provision",
                target_type="auth.user",
                target_id=user.pk,
                before=None,
                after={
                    "username": user.username,
                    "issuer": profile.issuer,
                    "subject": profile.subject,
                },
            )
            logger.info("sso: provisioned %s for %s %s", user.username, source, profile.subject)
        user = identity.user
        if not user.is_active:
            raise SsoError("This account is deactivated in FixOps.", code="sso_inactive")
        removed = _sync_memberships(user=user, source=source, granted=granted)
        _update_user(user, profile)
        identity.last_login_at = timezone.now()
        identity.save(update_fields=["last_login_at"])
    if not granted and settings.FIXOPS_SSO_REQUIRE_MEMBERSHIP:
        # The removals above are committed: losing a group takes effect even though the
        # sign-in is refused.
        raise SsoError(_no_access_message(provider), code="sso_no_membership")
    return SsoResult(user=user, granted=granted, removed=removed)


def _no_access_message(provider) -> str:
    return (
        f"Your account at {provider.name} is in no group that grants access to a FixOps "
        "tenant. Ask your administrator to add you to one."
    )


def _sync_memberships(*, user, source: str, granted: dict[str, str]) -> list[str]:
    tenants = {t.slug: t for t in Tenant.objects.filter(slug__in=granted, is_active=True)}
    for slug in sorted(set(granted) - set(tenants)):
        logger.warning("sso: mapping grants unknown or inactive tenant %r (%s)", slug, source)
    current = {
        m.tenant.slug: m for m in Membership.objects.filter(user=user).select_related("tenant")
    }
    for slug, tenant in tenants.items():
        membership = current.get(slug)
        before = None
        if membership is None:
            membership = Membership.objects.create(
                user=user, tenant=tenant, role=granted[slug], managed_by=source
            )
        elif membership.role != granted[slug] or membership.managed_by != source:
            before = {"user": user.pk, "role": membership.role, "managed_by": membership.managed_by}
            membership.role = granted[slug]
            membership.managed_by = source
            membership.save(update_fields=["role", "managed_by"])
        else:
            continue
        _audit_membership(membership, "membership.set", before, _facts(membership))
    stale = [m for slug, m in current.items() if m.managed_by == source and slug not in tenants]
    for membership in stale:
        facts, pk = _facts(membership), membership.pk
        membership.delete()
        membership.pk = pk
        _audit_membership(membership, "membership.delete", facts, None)
    return sorted(m.tenant.slug for m in stale)


def _facts(membership: Membership) -> dict:
    return {
        "user": membership.user_id,
        "username": membership.user.get_username(),
        "role": membership.role,
        "managed_by": membership.managed_by,
    }


def _audit_membership(membership: Membership, action: str, before, after) -> None:
    audit_record(
        tenant=membership.tenant,
        actor=f"sso:{membership.managed_by}",
        action=action,
        target_type="tenants.membership",
        target_id=membership.pk,
        before=before,
        after=after,
    )


def _update_user(user, profile: SsoProfile) -> None:
    fields = []
    if profile.email and user.email != profile.email:
        user.email = profile.email
        fields.append("email")
    first, _, last = profile.name.partition(" ")
    if profile.name and (user.first_name, user.last_name) != (first[:150], last[:150]):
        user.first_name, user.last_name = first[:150], last[:150]
        fields += ["first_name", "last_name"]
    # Staff status opens the (role-scoped) admin to anyone with a membership.
    is_staff = user.is_superuser or Membership.objects.filter(user=user).exists()
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        fields.append("is_staff")
    if fields:
        user.save(update_fields=fields)
