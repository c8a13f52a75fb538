"""The audit log's tables: append-only events, one hash chain per tenant, and each chain's head.

`tenant_id` is a plain column, not a foreign key: a tamper-evident log must outlive what it
records, so deleting a tenant never cascades into its chain (and the platform layer knows no
tenant model). NULL is the chain of global changes.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """One state change. Append-only: each row holds the hash of the previous row of its chain."""

    # Indexed through the chain's unique (tenant_id, seq) index, which leads with it.
    tenant_id = models.BigIntegerField(null=True, blank=True)
    seq = models.PositiveBigIntegerField()
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=100)
    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=100)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "seq"], name="audit_event_chain_uniq", nulls_distinct=False
            )
        ]
        indexes = [
            models.Index(fields=["tenant_id", "target_type", "target_id"], name="audit_target_idx")
        ]
        ordering = ["-seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.actor} {self.action} {self.target_type}:{self.target_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit events are append-only")


class AuditChainHead(models.Model):
    """The last row of one chain; writers lock it, so two writers cannot fork the chain."""

    tenant_id = models.BigIntegerField(null=True, blank=True)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id"], name="audit_head_tenant_uniq", nulls_distinct=False
            )
        ]

    def __str__(self) -> str:
        return f"audit head of {self.tenant_id or 'global'}: #{self.seq}"
