"""A tenant's SLA policy: how long a finding may stay open, by severity, KEV and SSVC."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from apps.tenants.scoping import TenantOwned


def default_sla_days() -> dict[str, int]:
    return {"critical": 7, "high": 30, "medium": 90, "low": 180, "info": 365}


class SlaState(models.TextChoices):
    ON_TIME = "on_time", "On time"
    DUE_SOON = "due_soon", "Due soon"
    OVERDUE = "overdue", "Overdue"
    PAUSED = "paused", "Paused (risk accepted)"


class SlaPolicy(TenantOwned):
    """Days to fix per severity; a KEV finding and an SSVC decision may shorten them (the
    strictest applicable deadline wins). Read by apps/findings/sla.py, which stores each
    finding's `due_at`; the gate (apps/policies) reads that, never these numbers."""

    # {"critical": 7, ...}; a severity left out (or null) has no deadline.
    days = models.JSONField(default=default_sla_days, blank=True)
    # Days for a finding in CISA's KEV catalog; null: no KEV override.
    kev_days = models.PositiveIntegerField(null=True, blank=True)
    # Days per SSVC decision ({"Act": 7, "Attend": 30}); decisions left out: no override.
    ssvc_days = models.JSONField(default=dict, blank=True)
    # A finding due within this many days is "due soon".
    due_soon_days = models.PositiveIntegerField(default=3)
    # When a risk acceptance ends: True restarts the clock in full, False resumes it with the
    # time that was left when the acceptance began.
    restart_on_expiry = models.BooleanField(default=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="sla_policy_uniq")]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"

    def __str__(self) -> str:
        return f"SLA policy of {self.tenant}"
