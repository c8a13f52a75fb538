"""Gate decisions: immutable records of what was decided, on which input, under which policy."""

from __future__ import annotations

from datetime import UTC

from django.db import models
from django.utils import timezone

from apps.tenants.scoping import TenantOwned


class Outcome(models.TextChoices):
    ALLOW = "ALLOW", "Allow"
    NEEDS_REVIEW = "NEEDS_REVIEW", "Needs review"
    BLOCK = "BLOCK", "Block"


class Decision(TenantOwned):
    application = models.ForeignKey(
        "findings.Application", on_delete=models.PROTECT, related_name="decisions"
    )
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    confidence = models.FloatField()
    confidence_detail = models.JSONField(default=dict)
    # [{"level": "deny"|"review"|"warn", "rule", "message", "finding_ids": [...]}]
    reasons = models.JSONField(default=list)
    counts = models.JSONField(default=dict)
    commit = models.CharField(max_length=100, blank=True)
    branch = models.CharField(max_length=255, blank=True)
    pipeline_run = models.CharField(max_length=255, blank=True)
    scans = models.ManyToManyField("findings.Scan", blank=True, related_name="decisions")
    policy_version = models.ForeignKey(
        "policies.PolicyVersion", on_delete=models.PROTECT, related_name="decisions"
    )
    engine = models.CharField(max_length=20)  # "regopy" or "opa"
    # The exact policy input (for simulation replays and evidence) and its sha256.
    input = models.JSONField()
    input_digest = models.CharField(max_length=64)
    result = models.JSONField(default=dict)  # the policy's result document as returned
    error = models.TextField(blank=True)  # set when the engine failed and the gate closed
    # What log-only policies would have decided: [{"policy", "version", "outcome", "reasons"}]
    shadow = models.JSONField(default=list, blank=True)
    timings_ms = models.JSONField(default=dict)  # load, enrich, evaluate (persist is logged)
    requested_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "-id"], name="decision_tenant_recent_idx"),
            models.Index(fields=["tenant", "application", "-id"], name="decision_app_recent_idx"),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        # What GRC reads in titles, breadcrumbs and links: "BLOCK · payments-api @ 3f2a9c1 ·
        # 2026-12-06 10:42 UTC" (the short commit as git prints it).
        application = self.application.name if self.application_id else "-"
        commit = self.commit[:7] or "no commit"
        when = self.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return f"{self.outcome} · {application} @ {commit} · {when}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("decisions are immutable records")
        super().save(*args, **kwargs)
