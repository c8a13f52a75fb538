"""The read side's one table: a tenant's analytics, computed by a beat task (docs/workspace.md,
"Dashboard"), so the dashboard and the analytics API read one row, not a million findings."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from apps.tenants.scoping import TenantOwned


class AnalyticsSnapshot(TenantOwned):
    """A tenant's analytics as of `as_of` (apps/workspace/analytics/snapshot.py `compute`):
    derived data, replaced whole by each refresh."""

    as_of = models.DateTimeField(default=timezone.now)
    data = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    took_ms = models.PositiveIntegerField(default=0)  # how long the refresh took

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="analytics_snapshot_tenant_uniq")
        ]

    def __str__(self) -> str:
        return f"analytics of tenant {self.tenant_id} as of {self.as_of:%Y-%m-%d %H:%M}"
