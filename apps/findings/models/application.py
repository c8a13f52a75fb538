"""Applications: what is built and shipped, with the context that feeds risk."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
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


MAX_SOURCE_ROOTS = 20
MAX_SOURCE_ROOT_LENGTH = 500
_ABSOLUTE = re.compile(r"^(?:/|[A-Za-z]:[\\/]|file:/)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def source_root_problem(root: object) -> str:
    """Why `root` cannot be a source root ("" when it can): an absolute directory, POSIX
    (`/builds/acme/shop`), Windows (`C:\\build\\shop`) or a `file:` URI, without `..`."""
    if not isinstance(root, str) or not root.strip():
        return "must be a non-empty string"
    if len(root) > MAX_SOURCE_ROOT_LENGTH:
        return f"must be at most {MAX_SOURCE_ROOT_LENGTH} characters"
    if _CONTROL.search(root):
        return "must not contain control characters"
    if not _ABSOLUTE.match(root.strip()):
        return "must be an absolute directory (/path, C:\\path or file:///path)"
    if ".." in re.split(r"[\\/]", root):
        return "must not contain '..'"
    return ""


def validate_source_roots(value: object) -> None:
    """Model/admin validator of Application.source_roots (the API checks the same)."""
    if not isinstance(value, list):
        raise ValidationError("Source roots must be a list of absolute directories.")
    if len(value) > MAX_SOURCE_ROOTS:
        raise ValidationError(f"At most {MAX_SOURCE_ROOTS} source roots.")
    for root in value:
        problem = source_root_problem(root)
        if problem:
            raise ValidationError(f"Source root {str(root)[:80]!r} {problem}.")


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
    # Where this application's checkout lives when scanners run (CI workspaces, container
    # mounts): absolute paths in reports are made relative to the first that contains them,
    # after the roots the report and the upload declare (docs/ingestion.md, Paths).
    source_roots = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_source_roots],
        help_text='Absolute checkout directories, e.g. ["/builds/acme/shop", "C:\\build\\shop"].',
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="application_tenant_name_uniq")
        ]

    def __str__(self) -> str:
        return self.name
