"""Risk acceptance: a request, reviewed by someone else, letting findings pass until expiry."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.tenants.scoping import TenantOwned


class AcceptanceScope(models.TextChoices):
    FINDING = "finding", "One finding"
    VULNERABILITY_APP = "vulnerability_app", "A vulnerability across one application"
    VULNERABILITY_ALL = "vulnerability_all", "A vulnerability across all applications"
    RULE_PATH = "rule_path", "A rule on paths matching a pattern"


class AcceptanceStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class RiskAcceptance(TenantOwned):
    scope = models.CharField(max_length=20, choices=AcceptanceScope.choices)
    application = models.ForeignKey(
        "findings.Application", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    finding = models.ForeignKey(
        "findings.Finding", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    vuln_id = models.CharField(max_length=100, blank=True)
    rule_id = models.CharField(max_length=500, blank=True)
    path_pattern = models.CharField(max_length=500, blank=True)  # fnmatch glob, e.g. tests/**
    justification = models.TextField()
    status = models.CharField(
        max_length=10, choices=AcceptanceStatus.choices, default=AcceptanceStatus.REQUESTED
    )
    expires_at = models.DateTimeField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_label = models.CharField(max_length=150)  # "user:alice" (kept if the user goes)
    requested_at = models.DateTimeField(default=timezone.now)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reviewed_label = models.CharField(max_length=150, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)  # expired or revoked

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "status", "expires_at"], name="acceptance_status_idx"),
            models.Index(
                fields=["expires_at"],
                condition=Q(status="approved"),
                name="acceptance_expiry_idx",
            ),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        target = self.vuln_id or self.rule_id or f"finding #{self.finding_id}"
        where = f" in {self.application.name}" if self.application_id else ""
        return f"acceptance of {target}{where} ({self.get_status_display().lower()})"
