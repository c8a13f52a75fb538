"""Events: a change recorded in the transaction that made it, for the layers above the writer.

A lower layer (the findings writer, intel rescoring, acceptances) cannot call the layers above it
(scoring, tickets, notifications). It emits an Event row instead, atomically with its change;
handlers subscribed by the upper layers (apps/pipeline) run after commit. The row is durable, so
a crash between commit and handling loses nothing: the sweeper hands it over again, and handlers
are idempotent (their effects are keyed by the event).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Event(models.Model):
    tenant_id = models.BigIntegerField(null=True, blank=True)
    topic = models.CharField(max_length=60)  # "finding.changed"
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    handled_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["id"],
                condition=models.Q(handled_at__isnull=True),
                name="event_pending_idx",
            ),
            models.Index(fields=["created_at"], name="event_created_idx"),
        ]
        ordering = ["id"]
        verbose_name = "platform event"

    def __str__(self) -> str:
        state = "handled" if self.handled_at else "pending"
        return f"{self.topic} #{self.pk} ({state})"
