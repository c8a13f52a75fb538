"""Policies: a named Rego module with immutable versions, assigned globally, per tenant or per
application, enforcing or log-only."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.findings.models.sla import default_sla_days  # noqa: F401 - migration 0001 names it
from apps.tenants.scoping import TenantOwned


class Policy(models.Model):
    """A policy. `tenant` NULL marks a global policy, managed by superusers and visible to every
    tenant; the global one flagged `is_default` decides for applications with no assignment."""

    tenant = models.ForeignKey(
        "tenants.Tenant", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # The version that decides; changing it is activation (or rollback to an older number).
    active_version = models.ForeignKey(
        "policies.PolicyVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"], name="policy_tenant_name_uniq", nulls_distinct=False
            ),
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="policy_one_default",
            ),
            models.CheckConstraint(
                condition=Q(is_default=False) | Q(tenant__isnull=True),
                name="policy_default_is_global",
            ),
        ]
        ordering = ["name"]
        verbose_name_plural = "policies"

    def __str__(self) -> str:
        return self.name if self.tenant_id else f"{self.name} (global)"


class PolicyVersion(models.Model):
    """One immutable revision of a policy's Rego source (and its parameters). Rows are never
    updated: editing a policy adds a version."""

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    source = models.TextField()
    # data.fixops.params for the module: thresholds the rules read, and the candidate filter
    # that decides which findings reach input.findings (see apps/policies/profiles.py).
    parameters = models.JSONField(default=dict, blank=True)
    digest = models.CharField(max_length=64)  # sha256 of canonical {source, parameters}
    note = models.CharField(max_length=500, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["policy", "number"], name="policy_version_uniq")
        ]
        ordering = ["policy", "-number"]

    def __str__(self) -> str:
        return f"{self.policy.name} v{self.number}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("policy versions are immutable; add a new version instead")
        super().save(*args, **kwargs)


class AssignmentMode(models.TextChoices):
    ENFORCE = "enforce", "Enforce"
    LOG_ONLY = "log_only", "Log only (record what it would decide)"


class PolicyAssignment(TenantOwned):
    """Which policy decides for a tenant (application NULL) or one application. At most one
    enforcing assignment per scope; any number of log-only ones run beside it."""

    application = models.ForeignKey(
        "findings.Application", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="assignments")
    mode = models.CharField(max_length=10, choices=AssignmentMode.choices)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "application"],
                condition=Q(mode="enforce"),
                name="assignment_one_enforcing",
                nulls_distinct=False,
            ),
            models.UniqueConstraint(
                fields=["tenant", "application", "policy"],
                name="assignment_policy_uniq",
                nulls_distinct=False,
            ),
        ]
        indexes = [models.Index(fields=["tenant", "application"], name="assignment_scope_idx")]

    def __str__(self) -> str:
        where = self.application.name if self.application_id else "every application"
        return f"{self.policy} ({self.mode}) for {where}"


class PolicySettings(TenantOwned):
    """A tenant's governance settings: acceptance limits, what a complete input looks like
    (for confidence), and an optional external OPA server. SLA deadlines live in the findings
    layer (apps/findings/models/sla.py: SlaPolicy)."""

    max_acceptance_days = models.PositiveIntegerField(default=90)
    # Finding kinds a complete pipeline reports (e.g. ["sast", "sca", "secret"]); empty means
    # "whatever the application has ever reported".
    expected_kinds = models.JSONField(default=list, blank=True)
    feed_max_age_hours = models.PositiveIntegerField(default=48)
    # External OPA (REST data API), e.g. http://opa:8181 ; empty evaluates in-process.
    opa_url = models.URLField(max_length=500, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="policy_settings_uniq")]
        verbose_name_plural = "policy settings"

    def __str__(self) -> str:
        return f"policy settings of {self.tenant}"
