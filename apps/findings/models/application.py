"""Applications: what is built and shipped, with the context that feeds risk."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from apps.tenants.scoping import TenantOwned


class Criticality(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class DataClassification(models.TextChoices):
    PUBLIC = "public", "Public"
    INTERNAL = "internal", "Internal"
    CONFIDENTIAL = "confidential", "Confidential"
    RESTRICTED = "restricted", "Restricted"


class Application(TenantOwned):
    """A repository or service; its context (criticality, exposure, data) feeds risk."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    repo_url = models.URLField(max_length=500, blank=True)
    criticality = models.CharField(
        max_length=20, choices=Criticality.choices, default=Criticality.MEDIUM
    )
    internet_exposed = models.BooleanField(default=False)
    data_classification = models.CharField(
        max_length=20, choices=DataClassification.choices, default=DataClassification.INTERNAL
    )
    owners = models.JSONField(default=list, blank=True, help_text="Owner e-mails or team names.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="application_tenant_name_uniq")
        ]

    def __str__(self) -> str:
        return self.name
