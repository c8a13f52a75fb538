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
from apps.tenants.roles import Role, role_at_least
from apps.tenants.scopes import scope_granted, validate_scopes
from apps.tenants.selectors import user_role_in
from fixops.platform.audit import audit_record
from fixops.platform.errors import Conflict, Forbidden, Invalid
from fixops.platform.prepared import PreparedLookup

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


def token_actor(*, user: AbstractBaseUser | None, token: ApiToken | None) -> str:
    """Who acts, for audit rows: "token:<prefix>", "user:<username>" or "system"."""
    if token is not None:
        return f"token:{token.prefix}"
    if user is not None and user.is_authenticated:
        return f"user:{user.get_username()}"
    return "system"


def _token_facts(token: ApiToken) -> dict:
    """What an audit row says about a token: never its secret or hash."""
    return {
        "name": token.name,
        "prefix": token.prefix,
        "role": token.role,
        "scopes": token.scopes,
        "expires_at": token.expires_at,
    }


def tenant_create(*, slug: str, name: str, actor: str = "system") -> Tenant:
    """Create a tenant; Invalid or Conflict if the slug is taken or malformed."""
    tenant = Tenant(slug=slug, name=name or slug)
    tenant.full_clean()
    with transaction.atomic():
        tenant.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="tenant.create",
            target_type="tenants.tenant",
            target_id=tenant.pk,
            before=None,
            after={"slug": tenant.slug, "name": tenant.name},
        )
    return tenant


def membership_set(
    *, tenant: Tenant, user: AbstractBaseUser, role: str, actor: str = "system"
) -> Membership:
    """Give `user` `role` in `tenant` (creating or changing the membership)."""
    Role(role)
    with transaction.atomic():
        previous = (
            Membership.objects.select_for_update()
            .filter(tenant=tenant, user=user)
            .values_list("role", flat=True)
            .first()
        )
        membership, _ = Membership.objects.update_or_create(
            tenant=tenant, user=user, defaults={"role": role}
        )
        if previous != role:
            audit_record(
                tenant=tenant,
                actor=actor,
                action="membership.set",
                target_type="tenants.membership",
                target_id=membership.pk,
                before=None if previous is None else {"user": user.pk, "role": previous},
                after={"user": user.pk, "username": user.get_username(), "role": role},
            )
    return membership


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plaintext: str  # shown once, never stored


def api_token_check(
    *,
    tenant: Tenant,
    role: str,
    scopes: list[str] | None,
    expires_at: datetime | None,
    created_by: AbstractBaseUser | None,
    issuer_token: ApiToken | None,
) -> tuple[list[str], datetime | None]:
    """Validated (scopes, expires_at) for a new token, or Invalid/Forbidden saying what is wrong
    (a stable code, and details naming the bound that was exceeded).

    A token is never wider than whoever issues it: its role is at most the issuer's role in
    the tenant, a token issued by a scoped token only gets scopes that token has, and a token
    issued by a token expires no later than it. The tenant's maximum lifetime bounds every
    expiry (a signed-in user or a never-expiring token is bounded by it alone), and the
    tightest bound is the expiry when none is asked for.
    """
    try:
        Role(role)
        clean_scopes = validate_scopes(scopes or [])
    except ValueError as exc:
        raise Invalid(str(exc), code="invalid_token_request") from None
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise Invalid("expires_at must be in the future", code="invalid_token_request")
    if created_by is not None and created_by.is_authenticated:
        issuer_role = user_role_in(user=created_by, tenant=tenant)
        if issuer_role is None or not role_at_least(issuer_role, role):
            raise Forbidden(
                f"You may only issue tokens up to your own role ({issuer_role or 'none'}); "
                f"{role} was asked for.",
                code="token_wider_than_issuer",
                details={"bound": "role", "issuer_role": issuer_role, "requested_role": role},
            )
    if issuer_token is not None:
        if not role_at_least(issuer_token.role, role):
            raise Forbidden(
                f"A {issuer_token.role} token cannot issue a {role} token.",
                code="token_wider_than_issuer",
                details={"bound": "role", "issuer_role": issuer_token.role, "requested_role": role},
            )
        if issuer_token.scopes and (
            not clean_scopes or not all(scope_granted(issuer_token.scopes, s) for s in clean_scopes)
        ):
            raise Forbidden(
                "A scoped token can only issue tokens with scopes it has itself: "
                f"{', '.join(issuer_token.scopes)}.",
                code="token_wider_than_issuer",
                details={
                    "bound": "scopes",
                    "issuer_scopes": issuer_token.scopes,
                    "requested_scopes": clean_scopes,
                },
            )
    return clean_scopes, _bounded_expiry(
        tenant=tenant, expires_at=expires_at, issuer_token=issuer_token, now=now
    )


def tenant_token_deadline(*, tenant: Tenant, now: datetime) -> datetime | None:
    """The latest expiry the tenant's policy allows for a token issued `now` (None: no limit)."""
    days = tenant.token_max_lifetime_days
    return now + timedelta(days=days) if days else None


def _bounded_expiry(
    *,
    tenant: Tenant,
    expires_at: datetime | None,
    issuer_token: ApiToken | None,
    now: datetime,
) -> datetime | None:
    """`expires_at` checked against the tenant policy and the issuing token's own expiry."""
    latest = tenant_token_deadline(tenant=tenant, now=now)
    issuer_end = issuer_token.expires_at if issuer_token is not None else None
    if expires_at is None:
        bounds = [b for b in (latest, issuer_end) if b is not None]
        return min(bounds) if bounds else None
    # A minute of slack: a client computing "now + max days" is a little behind our clock.
    if latest is not None and expires_at > latest + timedelta(minutes=1):
        raise Invalid(
            f"Tenant {tenant.slug} allows tokens to live at most "
            f"{tenant.token_max_lifetime_days} days; choose an earlier expires_at.",
            code="token_lifetime_exceeds_policy",
            details={"max_days": tenant.token_max_lifetime_days, "latest": latest.isoformat()},
        )
    if issuer_end is not None and expires_at > issuer_end:
        raise Forbidden(
            f"A token expiring at {issuer_end.isoformat()} cannot issue one that outlives it "
            f"({expires_at.isoformat()} was asked for); omit expires_at or choose an earlier one.",
            code="token_outlives_issuer",
            details={
                "issuer_expires_at": issuer_end.isoformat(),
                "requested": expires_at.isoformat(),
            },
        )
    return expires_at


def api_token_issue(
    *,
    tenant: Tenant,
    name: str,
    role: str,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    created_by: AbstractBaseUser | None = None,
    issuer_token: ApiToken | None = None,
    actor: str = "",
) -> IssuedToken:
    """Issue a new token for `tenant`; the plaintext is returned once and only hashed at rest."""
    if not name.strip():
        raise Invalid("a token needs a name", code="invalid_token_request")
    clean_scopes, expires_at = api_token_check(
        tenant=tenant,
        role=role,
        scopes=scopes,
        expires_at=expires_at,
        created_by=created_by,
        issuer_token=issuer_token,
    )
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
        audit_record(
            tenant=tenant,
            actor=actor or token_actor(user=created_by, token=issuer_token),
            action="token.issue",
            target_type="tenants.apitoken",
            target_id=token.pk,
            before=None,
            after=_token_facts(token),
        )
    return IssuedToken(token=token, plaintext=f"{TOKEN_MARKER}_{prefix}_{secret}")


def api_token_rotate(
    *,
    token: ApiToken,
    created_by: AbstractBaseUser | None = None,
    issuer_token: ApiToken | None = None,
    grace: timedelta | None = None,
) -> IssuedToken:
    """A new token replacing `token`, expiring when it did (or earlier, when the tenant policy
    or an issuing token's expiry says so); the old one works for the grace period only."""
    now = timezone.now()
    if not token.is_live:
        raise Conflict(
            "Only a live token can be rotated; this one is revoked or expired.",
            code="token_not_live",
        )
    if grace is None:
        grace = timedelta(hours=settings.FIXOPS_TOKEN_ROTATION_GRACE_HOURS)
    # The replacement keeps the old expiry: rotating swaps a secret, it never extends a
    # token's life. Like any expiry not asked for, it is bounded by the tenant's policy (which
    # may have tightened since; a never-expiring token gets the maximum) and by an issuing
    # token's own expiry, so a leaked token can always be rotated, never into a longer life.
    bounds = [
        token.expires_at,
        tenant_token_deadline(tenant=token.tenant, now=now),
        issuer_token.expires_at if issuer_token is not None else None,
    ]
    expires_at = min((b for b in bounds if b is not None), default=None)
    with transaction.atomic():
        issued = api_token_issue(
            tenant=token.tenant,
            name=token.name,
            role=token.role,
            scopes=token.scopes,
            expires_at=expires_at,
            created_by=created_by,
            issuer_token=issuer_token,
        )
        grace_end = now + grace
        token.expires_at = min(token.expires_at, grace_end) if token.expires_at else grace_end
        token.replaced_by = issued.token
        token.save(update_fields=["expires_at", "replaced_by"])
        audit_record(
            tenant=token.tenant,
            actor=token_actor(user=created_by, token=issuer_token),
            action="token.rotate",
            target_type="tenants.apitoken",
            target_id=token.pk,
            before={"prefix": token.prefix},
            after={"expires_at": token.expires_at, "replaced_by": issued.token.prefix},
        )
    return issued


def api_token_expiry_check(*, token: ApiToken, expires_at: datetime | None) -> None:
    """Invalid unless `expires_at` shortens `token`'s life (or keeps it): never extends it.

    A longer-lived credential is a new token, issued under the issuer and policy bounds.
    """
    if expires_at == token.expires_at:
        return
    if token.expires_at is not None and (expires_at is None or expires_at > token.expires_at):
        raise Invalid(
            "A token's expiry can be brought forward, never pushed back; issue a new token "
            "for a longer life.",
            code="token_expiry_extended",
            details={
                "expires_at": token.expires_at.isoformat(),
                "requested": expires_at.isoformat() if expires_at else None,
            },
        )


def api_token_update(
    *, token: ApiToken, name: str, expires_at: datetime | None, actor: str
) -> ApiToken:
    """Rename a token or bring its expiry forward (Invalid if the expiry would be later)."""
    if not name.strip():
        raise Invalid("a token needs a name", code="invalid_token_request")
    api_token_expiry_check(token=token, expires_at=expires_at)
    before = {"name": token.name, "expires_at": token.expires_at}
    with transaction.atomic():
        token.name = name.strip()
        token.expires_at = expires_at
        token.save(update_fields=["name", "expires_at"])
        audit_record(
            tenant=token.tenant,
            actor=actor,
            action="token.update",
            target_type="tenants.apitoken",
            target_id=token.pk,
            before=before,
            after={"name": token.name, "expires_at": token.expires_at},
        )
    return token


def expiry_in_days(days: int | None) -> datetime | None:
    """Expiry `days` from now; None means the token does not expire."""
    return timezone.now() + timedelta(days=days) if days else None


def api_token_revoke(*, token: ApiToken, actor: str = "system") -> ApiToken:
    """Revoke a token now (idempotent: revoking twice keeps the first revocation time)."""
    with transaction.atomic():
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit_record(
                tenant=token.tenant,
                actor=actor,
                action="token.revoke",
                target_type="tenants.apitoken",
                target_id=token.pk,
                before={"prefix": token.prefix, "revoked_at": None},
                after={"prefix": token.prefix, "revoked_at": token.revoked_at},
            )
    return token


# Every API request runs this lookup: its SQL is compiled once (prefix is unique).
_TOKEN_BY_PREFIX: PreparedLookup[ApiToken] = PreparedLookup(
    lambda prefix: ApiToken.objects.select_related("tenant").filter(prefix=prefix)
)


def api_token_authenticate(plaintext: str) -> ApiToken:
    """The live token matching `plaintext`, or TokenError. Touches last_used_at (throttled)."""
    marker, _, rest = plaintext.partition("_")
    prefix, _, secret = rest.partition("_")
    if marker != TOKEN_MARKER or not prefix or not secret:
        raise TokenError("invalid_token", "Malformed API token.")
    token = _TOKEN_BY_PREFIX.get(prefix)
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
