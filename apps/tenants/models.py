"""Tenants, who belongs to them with which role, teams of members, and API tokens."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from apps.tenants.roles import Role

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use 1-50 lower-case letters, digits and inner hyphens.",
)


def default_token_max_lifetime_days() -> int | None:
    return settings.FIXOPS_TOKEN_MAX_LIFETIME_DAYS or None


class Tenant(models.Model):
    slug = models.CharField(max_length=50, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Tenant policy: every API token expires within this many days (empty: no limit).
    token_max_lifetime_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=default_token_max_lifetime_days,
        help_text="API tokens must expire within this many days; empty means no limit.",
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=timezone.now)
    # Empty: granted by hand. "oidc:<idp>" / "saml:<idp>": granted by that IdP's group
    # mapping, re-evaluated (and removed when no longer granted) at every sign-in through it.
    managed_by = models.CharField(max_length=80, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="membership_user_tenant_uniq")
        ]
        ordering = ["tenant__slug", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} ({self.role})"


class Team(models.Model):
    """A named group of a tenant's members: a finding's owner may be a person or a team.

    Members are users with a membership in the team's tenant (checked by apps/tenants/teams.py,
    the only writer); removing a membership leaves the team's list for the next edit to tidy.
    """

    # No index of its own: team_tenant_name_uniq leads with the tenant.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="teams", db_index=False
    )
    name = models.CharField(max_length=100)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams", blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="team_tenant_name_uniq")
        ]
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class RetentionPolicy(models.Model):
    """How long a tenant keeps operational data that only explains the past (docs/operations.md,
    "Retention"); 0 keeps it forever. A tenant without a row uses the defaults. The audit log
    and evidence keep their own retention and are never purged by it."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="retention")
    scan_details_days = models.PositiveIntegerField(
        validators=[MaxValueValidator(3650)],
        default=90,
        help_text="Unreadable-result lists of scans (counts stay)",
    )
    closed_occurrences_days = models.PositiveIntegerField(
        validators=[MaxValueValidator(3650)],
        default=365,
        help_text="Occurrences of findings closed this long ago",
    )
    outbox_attempts_days = models.PositiveIntegerField(
        validators=[MaxValueValidator(3650)],
        default=30,
        help_text="Delivery attempts of delivered or dead messages",
    )
    intel_events_days = models.PositiveIntegerField(
        validators=[MaxValueValidator(3650)], default=180, help_text="KEV, EPSS and advisory events"
    )
    inbox_deliveries_days = models.PositiveIntegerField(
        validators=[MaxValueValidator(3650)],
        default=30,
        help_text="Inbound webhook deliveries applied, ignored or failed this long ago",
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "retention policy"
        verbose_name_plural = "retention policies"

    def __str__(self) -> str:
        return f"retention of {self.tenant}"


class ApiToken(models.Model):
    """A tenant credential. Only a SHA-256 of the secret is stored; the token is shown once.

    The token reads `fxo_<prefix>_<secret>`: the prefix finds the row, the secret is compared
    by hash in constant time. Several live tokens per tenant allow rotation without downtime.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ANALYST)
    # Empty means every scope the role allows; otherwise e.g. ["scans:write", "findings:read"].
    scopes = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Set on the old token when it is rotated; it stays valid until its (shortened) expiry.
    replaced_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaces"
    )

    class Meta:
        ordering = ["tenant__slug", "-created_at"]
        indexes = [models.Index(fields=["tenant", "revoked_at"], name="apitoken_tenant_live_idx")]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None and not self.is_expired()


class SsoIdentity(models.Model):
    """A user as an IdP knows them: (issuer, subject) is stable; e-mail addresses are not."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identities"
    )
    protocol = models.CharField(max_length=10)  # "oidc" or "saml"
    provider = models.CharField(max_length=50)  # the configured IdP's slug
    issuer = models.CharField(max_length=500)  # OIDC `iss` or SAML IdP entity id
    subject = models.CharField(max_length=500)  # OIDC `sub` or SAML NameID
    created_at = models.DateTimeField(default=timezone.now)
    last_login_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_iss_sub_uniq")
        ]
        verbose_name = "SSO identity"
        verbose_name_plural = "SSO identities"

    def __str__(self) -> str:
        return f"{self.provider}:{self.subject}"


class SamlAssertionSeen(models.Model):
    """Replay guard: an assertion id is accepted once, and remembered until it expires."""

    issuer = models.CharField(max_length=500)
    assertion_id = models.CharField(max_length=255)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "assertion_id"], name="saml_assertion_seen_uniq"
            )
        ]
        indexes = [models.Index(fields=["expires_at"], name="saml_assertion_expiry_idx")]
        verbose_name = "SAML assertion seen"
        verbose_name_plural = "SAML assertions seen"

    def __str__(self) -> str:
        return self.assertion_id
