"""Writes for tenants, memberships and API tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from apps.tenants.models import ApiToken, Membership, Tenant
from apps.tenants.roles import Role
from apps.tenants.scopes import validate_scopes
from fixops.exceptions import ApiError

TOKEN_MARKER = "fxo"  # noqa: S105 - a public prefix, not a secret


class TokenError(Exception):
    """A presented token is unusable; `code` says why (invalid, expired, revoked)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _hash_secret(secret: str) -> str:
    # The secret is 256 random bits: a fast hash is safe here (no dictionary to attack), and
    # a slow one would cost every API request.
    return hashlib.sha256(secret.encode()).hexdigest()


def tenant_create(*, slug: str, name: str) -> Tenant:
    """Create a tenant; ApiError if the slug is taken or malformed."""
    tenant = Tenant(slug=slug, name=name or slug)
    tenant.full_clean()
    with transaction.atomic():
        tenant.save()
    return tenant


def membership_set(*, tenant: Tenant, user: AbstractBaseUser, role: str) -> Membership:
    """Give `user` `role` in `tenant` (creating or changing the membership)."""
    Role(role)
    with transaction.atomic():
        membership, _ = Membership.objects.update_or_create(
            tenant=tenant, user=user, defaults={"role": role}
        )
    return membership


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plaintext: str  # shown once, never stored


def api_token_issue(
    *,
    tenant: Tenant,
    name: str,
    role: str,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    created_by: AbstractBaseUser | None = None,
) -> IssuedToken:
    """Issue a new token for `tenant`; the plaintext is returned once and only hashed at rest."""
    try:
        Role(role)
        clean_scopes = validate_scopes(scopes or [])
    except ValueError as exc:
        raise ApiError(str(exc), code="invalid_token_request") from None
    if expires_at is not None and expires_at <= timezone.now():
        raise ApiError("expires_at must be in the future", code="invalid_token_request")
    if not name.strip():
        raise ApiError("a token needs a name", code="invalid_token_request")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            tenant=tenant,
            name=name.strip(),
            prefix=prefix,
            secret_hash=_hash_secret(secret),
            role=role,
            scopes=clean_scopes,
            expires_at=expires_at,
            created_by=created_by if created_by and created_by.is_authenticated else None,
        )
    return IssuedToken(token=token, plaintext=f"{TOKEN_MARKER}_{prefix}_{secret}")


def expiry_in_days(days: int | None) -> datetime | None:
    """Expiry `days` from now; None means the token does not expire."""
    return timezone.now() + timedelta(days=days) if days else None


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke a token now (idempotent: revoking twice keeps the first revocation time)."""
    with transaction.atomic():
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
    return token


def api_token_authenticate(plaintext: str) -> ApiToken:
    """The live token matching `plaintext`, or TokenError. Touches last_used_at (throttled)."""
    marker, _, rest = plaintext.partition("_")
    prefix, _, secret = rest.partition("_")
    if marker != TOKEN_MARKER or not prefix or not secret:
        raise TokenError("invalid_token", "Malformed API token.")
    token = ApiToken.objects.select_related("tenant").filter(prefix=prefix).first()
    # Hash anyway when the prefix is unknown, so timing does not reveal valid prefixes.
    presented = _hash_secret(secret)
    expected = token.secret_hash if token else "0" * 64
    if token is None or not hmac.compare_digest(presented, expected):
        raise TokenError("invalid_token", "Invalid API token.")
    now = timezone.now()
    if token.revoked_at is not None:
        raise TokenError("token_revoked", "This API token has been revoked.")
    if token.is_expired(now):
        raise TokenError("token_expired", "This API token has expired.")
    if not token.tenant.is_active:
        raise TokenError("tenant_inactive", "The tenant of this API token is deactivated.")
    _touch(token, now)
    return token


def _touch(token: ApiToken, now: datetime) -> None:
    stale_before = now - timedelta(seconds=settings.FIXOPS_TOKEN_TOUCH_SECONDS)
    if token.last_used_at is None or token.last_used_at < stale_before:
        # A conditional UPDATE, so concurrent requests do not all write.
        ApiToken.objects.filter(pk=token.pk).exclude(last_used_at__gte=stale_before).update(
            last_used_at=now
        )
        token.last_used_at = now
