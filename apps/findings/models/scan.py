"""Scans (one uploaded report each) and the component inventory SBOMs bring."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from apps.tenants.scoping import TenantOwned


class ScanStatus(models.TextChoices):
    QUEUED = "queued", "Queued"  # large upload waiting for a worker
    PROCESSING = "processing", "Processing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Scan(TenantOwned):
    """One uploaded report. Re-uploading the bytes of a stream's current scan returns that scan
    (see apps/pipeline/ingest.py and services.scan_replay_of for the exact idempotency rule)."""

    application = models.ForeignKey(
        "findings.Application", on_delete=models.CASCADE, related_name="scans"
    )
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    format = models.CharField(max_length=40)
    tool_name = models.CharField(max_length=100, blank=True)
    tool_version = models.CharField(max_length=100, blank=True)
    commit = models.CharField(max_length=100, blank=True)
    branch = models.CharField(max_length=255, blank=True)
    # What was scanned: the `target` form field verbatim, else normalised from the report
    # (apps/findings/targets.py); "" when neither says. Part of the stream key.
    target = models.CharField(max_length=300, blank=True, default="")
    pipeline_run = models.CharField(max_length=255, blank=True)
    # Where the scanner saw the checkout (the upload's source_root), for absolute paths.
    source_root = models.CharField(max_length=1000, blank=True)
    status = models.CharField(max_length=20, choices=ScanStatus.choices, default=ScanStatus.DONE)
    progress = models.PositiveSmallIntegerField(default=0)  # percent, for queued uploads
    counts = models.JSONField(default=dict, blank=True)
    # Noise figures: results in, findings out, per dedup strategy, skipped results.
    noise = models.JSONField(default=dict, blank=True)
    skipped = models.JSONField(default=list, blank=True)
    error = models.JSONField(null=True, blank=True)
    upload = models.CharField(max_length=500, blank=True)  # stored file, while queued
    # The queue (apps/findings/scan_queue.py): a worker claims a queued scan under a lease
    # (owner token + expiry, renewed by a heartbeat while it imports) and commits only while
    # it still owns it; the sweeper re-queues a scan whose worker or broker message was lost.
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)  # last (re-)queued
    requeues = models.PositiveSmallIntegerField(default=0)  # by the sweeper
    uploaded_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # What the report says (apps/findings/parsers/content.py), when a later scan with the
    # same digest may repeat this one instead of importing it again (apps/findings/repeat.py);
    # "" when it may not (a lost result, a VEX dismissal, components, a non-JSON format).
    content_digest = models.CharField(max_length=64, blank=True, default="", db_default="")

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "-id"], name="scan_tenant_recent_idx"),
            # The scan list's format filter reads the tenant's distinct formats from it.
            models.Index(fields=["tenant", "format"], name="scan_tenant_format_idx"),
            models.Index(fields=["application", "branch", "sha256"], name="scan_app_bytes_idx"),
            models.Index(
                fields=["application", "content_digest"],
                condition=~models.Q(content_digest=""),
                name="scan_app_content_idx",
            ),
            # The sweeper's scan: only unfinished scans, a handful at any time.
            models.Index(
                fields=["status"],
                condition=models.Q(status__in=["queued", "processing"]),
                name="scan_unfinished_idx",
            ),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        # "semgrep scan #11 · payments-api · main": what people call a scan in the admin.
        parts = [f"{self.tool_name or self.format or 'scan'} scan #{self.pk}"]
        parts.append(self.application.name)
        if self.branch:
            parts.append(self.branch)
        return " · ".join(parts)


class Component(TenantOwned):
    """A package in an application's inventory (from SBOMs), matched against advisories later."""

    application = models.ForeignKey(
        "findings.Application", on_delete=models.CASCADE, related_name="components"
    )
    # sha256 of (purl, name, version): purls can be longer than a btree index entry allows.
    identity = models.CharField(max_length=64)
    purl = models.CharField(max_length=1000, blank=True)
    name = models.CharField(max_length=500)
    version = models.CharField(max_length=200, blank=True)
    type = models.CharField(max_length=40, blank=True)
    cpe = models.CharField(max_length=500, blank=True)
    licenses = models.JSONField(default=list, blank=True)
    # Direct dependencies as purls/names: kept small and per row, never one big graph blob.
    depends_on = models.JSONField(default=list, blank=True)
    first_scan = models.ForeignKey(
        Scan, null=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    last_scan = models.ForeignKey(
        Scan, null=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "application", "identity"], name="component_identity_uniq"
            )
        ]
        indexes = [models.Index(fields=["tenant", "purl"], name="component_tenant_purl_idx")]

    def __str__(self) -> str:
        return self.purl or f"{self.name}@{self.version}"
