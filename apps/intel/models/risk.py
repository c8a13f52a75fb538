"""Per-tenant risk settings and the intel events that matter to people."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from apps.tenants.scoping import TenantOwned


class RiskSettings(TenantOwned):
    """A tenant's overrides of the risk model's named likelihood ratios and thresholds.

    Empty `likelihood_ratios` means the documented defaults (apps/intel/risk.py).
    """

    likelihood_ratios = models.JSONField(default=dict, blank=True)
    epss_alert_threshold = models.FloatField(default=0.1)  # EPSS crossing this is an event
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="risk_settings_tenant_uniq")]
        verbose_name_plural = "risk settings"

    def __str__(self) -> str:
        return f"risk settings of {self.tenant}"


class IntelEvent(TenantOwned):
    """A change in intel that matters for a tenant's findings (newly in KEV, EPSS crossing the
    tenant's threshold, a new advisory matching a component): connectors announce these."""

    class Kind(models.TextChoices):
        KEV_ADDED = "kev_added", "Newly in CISA KEV"
        EPSS_CROSSED = "epss_crossed", "EPSS crossed the threshold"
        ADVISORY_MATCHED = "advisory_matched", "New advisory matches a component"

    kind = models.CharField(max_length=30, choices=Kind.choices)
    vuln_id = models.CharField(max_length=64)
    finding_id = models.BigIntegerField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["tenant", "-id"], name="intel_event_recent_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.vuln_id}"
