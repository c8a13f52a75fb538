"""Evidence: signed decision bundles, the public keys that verify them, per-tenant retention,
and the signed checkpoints of the platform's audit chains (fixops/platform/models/audit.py)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from apps.tenants.scoping import TenantManager, TenantOwned


class LockMode(models.TextChoices):
    # S3 Object Lock modes; on Azure compliance is a locked, governance an unlocked policy.
    COMPLIANCE = "compliance", "Compliance (nobody can shorten or remove it)"
    GOVERNANCE = "governance", "Governance (privileged users may bypass)"


class BundleStatus(models.TextChoices):
    # Pending: signed and recorded, the write-once object not stored yet (it is stored after
    # the recording transaction commits, so a rollback never leaves an undeletable object).
    PENDING = "pending", "Pending (signed, not stored yet)"
    STORED = "stored", "Stored"


class EvidenceKey(models.Model):
    """A public key that verifies bundles. Not tenant data: one keyring per installation.
    `retired_at` set: signatures made after that moment are refused (older ones still verify)."""

    keyid = models.CharField(max_length=64, unique=True)  # sha256 hex of DER SubjectPublicKeyInfo
    algorithm = models.CharField(max_length=30)
    public_pem = models.TextField()
    source = models.CharField(max_length=20)  # signing, configured, dev
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.algorithm} {self.keyid[:16]}"


class EvidenceSettings(TenantOwned):
    """A tenant's retention: how long its bundles stay immutable, and the lock mode."""

    retention_days = models.PositiveIntegerField()
    lock_mode = models.CharField(max_length=10, choices=LockMode.choices)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="evidence_settings_uniq")]
        verbose_name_plural = "evidence settings"

    def __str__(self) -> str:
        return f"evidence retention of {self.tenant}: {self.retention_days} days"


class EvidenceBundle(TenantOwned):
    """Where a signed, encrypted DSSE envelope is stored, and its digests; `decision` links the
    decision it proves (gate bundles), if any.

    A bundle is recorded `pending` in its caller's transaction, with the encrypted envelope
    on the row (`pending_token`) and the key it will be stored under in `location`; after
    commit a task stores the object write-once, sets `location` to where it went, clears the
    token and marks the bundle `stored`."""

    decision = models.OneToOneField(
        "policies.Decision",
        on_delete=models.PROTECT,
        related_name="evidence",
        null=True,
        blank=True,
    )
    envelope_digest = models.CharField(max_length=64)  # sha256 of the envelope bytes
    payload_digest = models.CharField(max_length=64)  # sha256 of the signed statement bytes
    subjects = models.JSONField(default=list)  # the statement's subjects, for look-ups
    keyid = models.CharField(max_length=64)
    algorithm = models.CharField(max_length=30)
    backend = models.CharField(max_length=10)
    location = models.CharField(max_length=1000)
    status = models.CharField(
        max_length=10, choices=BundleStatus.choices, default=BundleStatus.PENDING
    )
    pending_token = models.BinaryField(null=True, blank=True, editable=False)
    stored_at = models.DateTimeField(null=True, blank=True)
    size_bytes = models.PositiveIntegerField()  # envelope
    stored_bytes = models.PositiveIntegerField()  # ciphertext
    retention_until = models.DateTimeField()
    lock_mode = models.CharField(max_length=10, choices=LockMode.choices)
    # Incremented by each re-encryption under a new Fernet key (the signed bytes never change).
    encryption_generation = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "-id"], name="evidence_tenant_recent_idx"),
            models.Index(fields=["tenant", "created_at"], name="evidence_tenant_time_idx"),
            models.Index(
                fields=["id"],
                condition=models.Q(status="pending"),
                name="evidence_pending_idx",
            ),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        if self.decision_id is None:
            return f"evidence bundle {self.pk}"
        return f"evidence of decision {self.decision_id}"

    @property
    def file_name(self) -> str:
        """The name of its envelope in downloads and exports."""
        stem = f"decision-{self.decision_id}" if self.decision_id else f"bundle-{self.pk}"
        return f"{stem}.dsse.json"


class AuditCheckpoint(models.Model):
    """A signed statement of a chain's head at a moment: rows cut off the end afterwards (a
    truncation) no longer reach the checkpointed sequence number and hash."""

    tenant = models.ForeignKey(
        "tenants.Tenant", null=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    seq = models.PositiveBigIntegerField()
    head_hash = models.CharField(max_length=64)
    envelope = models.BinaryField()  # the DSSE envelope bytes as signed (public content)
    keyid = models.CharField(max_length=64)
    backend = models.CharField(max_length=10)
    location = models.CharField(max_length=1000)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantManager()

    class Meta:
        indexes = [models.Index(fields=["tenant", "-seq"], name="audit_checkpoint_idx")]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"checkpoint of {self.tenant or 'the global chain'} at #{self.seq}"
