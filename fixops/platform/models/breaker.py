"""Circuit-breaker state, in the database so every worker shares it (fixops/platform/http/
breaker.py runs the state machine).

`BreakerFields` is abstract: a table of an upper layer that already has one row per destination
carries the fields itself, so its own queries can skip open destinations with a join. `Breaker`
is the platform's own table for callers with no such row, keyed by a string ("opa:host:port").
"""

from __future__ import annotations

from django.db import models


class BreakerState(models.TextChoices):
    CLOSED = "closed", "Closed (delivering)"
    OPEN = "open", "Open (vendor failing; waiting)"
    HALF_OPEN = "half_open", "Half-open (probing)"


class BreakerFields(models.Model):
    breaker_state = models.CharField(
        max_length=10, choices=BreakerState.choices, default=BreakerState.CLOSED
    )
    breaker_failures = models.PositiveIntegerField(default=0)
    breaker_opens = models.PositiveIntegerField(default=0)  # consecutive opens: longer waits
    breaker_until = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        abstract = True


class Breaker(BreakerFields):
    """The breaker of one destination that has no row of its own."""

    key = models.CharField(max_length=200, unique=True)

    class Meta:
        ordering = ["key"]
        verbose_name = "circuit breaker"

    def __str__(self) -> str:
        return f"{self.key} ({self.breaker_state})"
