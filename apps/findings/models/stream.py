"""Scan streams: (application, tool, branch, target), the unit re-imports close findings in."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from apps.tenants.scoping import TenantOwned


class Stream(TenantOwned):
    """One scan stream and when it last reported (docs/ingestion.md, "Targets").

    Written by the import (one upsert per tool of a report); a stream silent for
    FIXOPS_STREAM_STALE_DAYS, or retired by a person, retracts its live occurrences. The
    "osv" stream of advisory matching has no row: it is refreshed by matching, never stale.
    """

    # Covered by the leading column of stream_key_uniq.
    application = models.ForeignKey(
        "findings.Application", on_delete=models.CASCADE, related_name="streams", db_index=False
    )
    tool = models.CharField(max_length=100)
    branch = models.CharField(max_length=255, blank=True)
    target = models.CharField(max_length=300, blank=True, default="")
    first_scan = models.ForeignKey(
        "findings.Scan", null=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    last_scan = models.ForeignKey(
        "findings.Scan", null=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    last_scan_at = models.DateTimeField(default=timezone.now)
    # True while the stream's last scan repeated the one before it (apps/findings/repeat.py)
    # and did not write last_seen and last_scan on each live occurrence and its finding:
    # readers take them from here (apps/findings/sightings.py) until `settle` writes them.
    sightings_pending = models.BooleanField(default=False, db_default=False)
    # Set when the stream was retired (by a person or as stale); a new scan clears it.
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["application", "tool", "branch", "target"], name="stream_key_uniq"
            )
        ]
        indexes = [
            models.Index(
                fields=["tenant", "-last_scan_at", "-id"], name="stream_tenant_recent_idx"
            ),
            models.Index(fields=["last_scan_at"], name="stream_last_scan_idx"),
        ]
        ordering = ["-last_scan_at", "-id"]

    def __str__(self) -> str:
        parts = [self.tool, self.application.name, self.branch or "(no branch)"]
        if self.target:
            parts.append(self.target)
        return " · ".join(parts)
