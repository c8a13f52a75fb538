"""Retention of intel events (KEV added, EPSS crossed, advisory matched) older than a tenant
keeps them; run by apps/pipeline/retention.py. The findings they scored keep their scores."""

from __future__ import annotations

from datetime import datetime

from apps.intel.models import IntelEvent
from fixops.platform import bulk


def intel_events_purge(*, tenant_id: int, before: datetime, batch: int = 5000) -> int:
    stale = IntelEvent.objects.filter(tenant_id=tenant_id, created_at__lt=before)
    return bulk.delete_in_batches(stale, batch=batch)
