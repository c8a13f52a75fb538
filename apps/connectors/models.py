"""Integrations, the transactional outbox, its attempt ledger and links to remote objects.

The outbox row is the truth: services write it in the same transaction as the change that
causes it; the Celery trigger after commit only lowers latency (see drain.py).
"""

from __future__ import annotations

import json
import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.connectors.registry import Kind
from apps.findings.models.finding import Severity
from apps.tenants.scoping import TenantOwned
from fixops.platform import keyring
from fixops.platform.models.breaker import BreakerFields


def new_public_id() -> str:
    """192 random bits, URL-safe (32 characters)."""
    return secrets.token_urlsafe(24)


def new_webhook_secret() -> str:
    """256 random bits for HMAC signing / shared-token checks."""
    return secrets.token_urlsafe(32)


class Grouping(models.TextChoices):
    FINDING = "finding", "One ticket per finding"
    RULE = "rule", "One ticket per rule and application"
    COMPONENT = "component", "One ticket per component and application"


class Integration(TenantOwned, BreakerFields):
    """One configured vendor endpoint of a tenant, with its delivery health (the circuit
    breaker's fields, on this row so every worker shares them and the drain's claim can skip
    open integrations; fixops/platform/http/breaker.py)."""

    kind = models.CharField(max_length=20, choices=Kind.choices)  # registry.py lists them
    name = models.CharField(max_length=200)
    base_url = models.URLField(max_length=500, blank=True)  # blank for email (SMTP settings)
    # MultiFernet token of the JSON credentials; never shown, never returned by the API.
    credentials_token = models.BinaryField(editable=False, default=b"")
    settings = models.JSONField(default=dict, blank=True)
    min_severity = models.CharField(max_length=10, choices=Severity.choices, default="high")
    min_risk = models.FloatField(null=True, blank=True, help_text="0-100; empty: no risk bar.")
    grouping = models.CharField(max_length=20, choices=Grouping.choices, default=Grouping.FINDING)
    templates = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    # The id in the inbound webhook URL (/hooks/<public_id>/): random, >= 128 bits, never the
    # database id, so URLs cannot be enumerated.
    public_id = models.CharField(max_length=64, unique=True, default=new_public_id, editable=False)
    # MultiFernet token of the generated webhook secret (returned once at creation/rotation).
    webhook_secret_token = models.BinaryField(editable=False, default=b"")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="integration_tenant_name_uniq")
        ]
        indexes = [models.Index(fields=["tenant", "kind"], name="integration_tenant_kind_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def credentials(self) -> dict:
        if not self.credentials_token:
            return {}
        return json.loads(keyring.decrypt(bytes(self.credentials_token)))

    @credentials.setter
    def credentials(self, value: dict) -> None:
        self.credentials_token = keyring.encrypt(json.dumps(value, sort_keys=True).encode())

    @property
    def webhook_secret(self) -> str:
        if not self.webhook_secret_token:
            return ""
        return keyring.decrypt(bytes(self.webhook_secret_token)).decode()

    @webhook_secret.setter
    def webhook_secret(self, value: str) -> None:
        self.webhook_secret_token = keyring.encrypt(value.encode()) if value else b""


class MessageKind(models.TextChoices):
    UPSERT = "upsert", "Create or update the remote object"
    TRANSITION = "transition", "Open or close the remote object"
    COMMENT = "comment", "Comment on the remote object"


class MessageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_FLIGHT = "in_flight", "In flight"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (will retry)"
    DEAD = "dead", "Dead"


# Messages that still hold their ordering key: a later message of the key waits for them.
UNFINISHED = (MessageStatus.PENDING, MessageStatus.IN_FLIGHT, MessageStatus.FAILED)


class OutboxMessage(TenantOwned):
    """One effect to apply at a vendor, written in the transaction of its cause."""

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    kind = models.CharField(max_length=20, choices=MessageKind.choices)
    # Our stable reference stamped on the remote object ("fixops-f-42").
    reference = models.CharField(max_length=200)
    payload = models.JSONField(default=dict)
    idempotency_key = models.CharField(max_length=300, unique=True)
    # Messages with the same key apply in id order: "<integration id>:<reference>".
    ordering_key = models.CharField(max_length=250)
    status = models.CharField(
        max_length=10, choices=MessageStatus.choices, default=MessageStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=10)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The claim: due pending/failed rows, oldest first.
            models.Index(
                fields=["next_attempt_at", "id"],
                name="outbox_due_idx",
                condition=Q(status__in=["pending", "failed"]),
            ),
            # Re-claim of rows whose worker died.
            models.Index(
                fields=["lease_expires_at"],
                name="outbox_lease_idx",
                condition=Q(status="in_flight"),
            ),
            # "Is an earlier message of this key unfinished?" and "was anything sent for it before?"
            models.Index(fields=["ordering_key", "id"], name="outbox_order_idx"),
            models.Index(fields=["tenant", "-id"], name="outbox_tenant_recent_idx"),
            models.Index(
                fields=["integration", "status", "-id"], name="outbox_integration_status_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.reference} ({self.status})"


class AttemptOutcome(models.TextChoices):
    DELIVERED = "delivered", "Delivered"
    RETRY = "retry", "Transient error (retry)"
    DEAD = "dead", "Permanent error or out of attempts"
    LEASE_EXPIRED = "lease_expired", "Worker lost (lease expired)"


class OutboxAttempt(models.Model):
    """One delivery attempt of a message: when, how long, what happened."""

    message = models.ForeignKey(
        OutboxMessage, on_delete=models.CASCADE, related_name="attempt_rows", db_index=False
    )
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=20, choices=AttemptOutcome.choices)
    http_status = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["message", "number"]
        indexes = [models.Index(fields=["message", "number"], name="outbox_attempt_msg_idx")]

    def __str__(self) -> str:
        return f"{self.message_id}#{self.number} {self.outcome}"


class ExternalLink(TenantOwned):
    """A remote object (ticket, chat message, check run, page) created for our reference."""

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="links", db_index=False
    )
    reference = models.CharField(max_length=200)
    # Set for one-ticket-per-finding links; grouped tickets cover several findings.
    finding = models.ForeignKey(
        "findings.Finding",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="external_links",
        db_constraint=False,
    )
    decision_id = models.BigIntegerField(null=True, blank=True)
    remote_id = models.CharField(max_length=200)
    remote_key = models.CharField(max_length=200, blank=True)
    remote_url = models.CharField(max_length=1000, blank=True)
    remote_status = models.CharField(max_length=100, blank=True)  # the vendor's word
    state = models.CharField(max_length=10, default="open")  # open | closed, as we last set it
    remote_version = models.IntegerField(null=True, blank=True)
    remote_extra = models.JSONField(default=dict, blank=True)
    # Echo suppression (apps/connectors/inbound/apply.py): the vendor status our last delivered
    # write left, and the comments we wrote (vendor ids where the connector returns one, else
    # "sha256:<digest of the body>"), newest last, capped at SENT_COMMENTS_KEPT.
    sent_status = models.CharField(max_length=100, blank=True)
    sent_comments = models.JSONField(default=list, blank=True)
    # Inbound: when the vendor last told us something, and when it said the object was deleted.
    inbound_at = models.DateTimeField(null=True, blank=True)
    remote_deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_sync_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "reference"], name="external_link_reference_uniq"
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "-id"], name="external_link_tenant_idx"),
            # Inbound changes find their link by the vendor's id or key.
            models.Index(fields=["integration", "remote_id"], name="external_link_remote_id_idx"),
            models.Index(fields=["integration", "remote_key"], name="external_link_remote_key_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} -> {self.remote_key or self.remote_id}"


# --- Notification rules (which events reach which channel) ------------------------------------


class NotificationEvent(models.TextChoices):
    """What a notification rule can subscribe to (docs/connectors.md, "Notifications")."""

    KEV_ADDED = "kev_added", "A CVE of an open finding entered CISA KEV"
    EPSS_CROSSED = "epss_crossed", "EPSS of an open finding crossed the tenant's threshold"
    SLA_BREACHED = "sla_breached", "Open findings breached their SLA"
    DECISION_BLOCK = "decision_block", "A gate decision answered BLOCK"
    DECISION_NEEDS_REVIEW = "decision_needs_review", "A gate decision answered NEEDS_REVIEW"
    ACCEPTANCE_EXPIRED = "acceptance_expired", "A risk acceptance expired"


class NotificationRule(TenantOwned):
    """Send these events, at or above this severity, to this channel (an integration)."""

    name = models.CharField(max_length=200)
    events = models.JSONField(default=list, help_text="NotificationEvent values.")
    min_severity = models.CharField(max_length=10, choices=Severity.choices, default="info")
    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="notification_rules", db_index=False
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"], name="notification_rule_tenant_name_uniq"
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "enabled"], name="notification_rule_tenant_idx"),
            models.Index(fields=["integration"], name="notification_rule_integ_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class DriftKind(models.TextChoices):
    TICKET_CLOSED_FINDING_OPEN = "ticket_closed_finding_open", "Ticket closed, finding open"
    TICKET_DELETED = "ticket_deleted", "Ticket deleted"
    FINDING_CLOSED_TICKET_OPEN = "finding_closed_ticket_open", "Finding closed, ticket open"


class Drift(TenantOwned):
    """A linked ticket found out of line with its finding by reconciliation (what webhooks
    missed). Open while `repaired_at` is empty; one open row per (link, kind)."""

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="drifts", db_index=False
    )
    link = models.ForeignKey(
        ExternalLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="drifts"
    )
    kind = models.CharField(max_length=40, choices=DriftKind.choices)
    # The link's reference and remote key, kept when the link goes.
    reference = models.CharField(max_length=200)
    remote_key = models.CharField(max_length=200, blank=True)
    finding_id = models.BigIntegerField(null=True, blank=True)
    detected_at = models.DateTimeField(default=timezone.now)
    repaired_at = models.DateTimeField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "drift"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["link", "kind"],
                condition=Q(repaired_at__isnull=True),
                name="drift_open_link_kind_uniq",
            )
        ]
        indexes = [models.Index(fields=["integration", "-id"], name="drift_integration_idx")]

    def __str__(self) -> str:
        return f"{self.reference} {self.kind}"


SENT_COMMENTS_KEPT = 50


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    APPLIED = "applied", "Applied"
    IGNORED = "ignored", "Ignored (nothing to apply)"
    FAILED = "failed", "Failed"


class InboundDelivery(TenantOwned):
    """One verified webhook delivery, stored raw before anything is applied (the transactional
    inbox, twin of the outbox): the endpoint answers once the row commits, a worker applies it.
    UNIQUE(integration, delivery_id) makes a replayed delivery store nothing."""

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    delivery_id = models.CharField(max_length=200)
    received_at = models.DateTimeField(default=timezone.now)
    occurred_at = models.DateTimeField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)  # the subset parse() needs, no secrets
    body = models.BinaryField()
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=8)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)  # ApplyResult counts
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "inbound deliveries"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "delivery_id"], name="inbound_delivery_uniq"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                name="inbound_due_idx",
                condition=Q(status="pending"),
            ),
            models.Index(
                fields=["lease_expires_at"],
                name="inbound_lease_idx",
                condition=Q(status="processing"),
            ),
            models.Index(fields=["tenant", "-id"], name="inbound_tenant_recent_idx"),
            models.Index(fields=["tenant", "received_at"], name="inbound_tenant_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.integration_id}:{self.delivery_id} ({self.status})"
