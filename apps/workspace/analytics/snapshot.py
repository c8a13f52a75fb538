"""A tenant's analytics computed in one go and stored (`AnalyticsSnapshot`).

`compute` runs the aggregates of posture.py and flow.py at one `now`, so every number of a
snapshot describes the same moment (`as_of`). The beat task `fixops.workspace.analytics_refresh`
(fixops/schedules.py) recomputes every tenant; a tenant without a snapshot gets one on first
read. Feed freshness is not stored: it is three rows, read live.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.tenants.models import Tenant
from apps.workspace.analytics import flow, posture
from apps.workspace.models import AnalyticsSnapshot
from fixops.platform.dbrouter import replica_safe

# Bumped when the stored document's shape changes: an older snapshot is recomputed on read.
VERSION = 2


@replica_safe
def compute(tenant: Tenant, *, now: datetime) -> dict[str, Any]:
    """Every stored number of the tenant at `now` (a handful of grouped queries); read from
    the replica when there is one: the snapshot is minutes old by design."""
    severity = posture.open_by_severity(tenant)
    apps = posture.by_application(tenant, now=now)
    total = {k: v for k, v in apps["total"].items() if k != "as_of"}
    return {
        "version": VERSION,
        "open": severity,
        "ssvc": posture.open_by_ssvc(tenant),
        "kev": posture.kev_exposure(apps["applications"]),
        "sla": total,
        "applications": apps["applications"],
        "riskiest": posture.riskiest(apps["applications"]),
        "mttr": flow.mttr(tenant, now=now),
        "daily": flow.daily(tenant, now=now),
        "weekly_decisions": flow.weekly_decisions(tenant, now=now),
        "noise": flow.noise_reduction(tenant, now=now),
    }


def refresh(tenant: Tenant, *, now: datetime | None = None) -> AnalyticsSnapshot:
    """Recompute and store the tenant's snapshot (replacing the previous one)."""
    now = now or timezone.now()
    started = time.monotonic()
    data = compute(tenant, now=now)
    took = int((time.monotonic() - started) * 1000)
    values = {"as_of": now, "data": data, "took_ms": took}
    try:
        with transaction.atomic():  # a savepoint: a lost race must not break the caller's
            snapshot, _ = AnalyticsSnapshot.objects.update_or_create(tenant=tenant, defaults=values)
    except IntegrityError:  # two first reads of a tenant at once: the other one stored it
        AnalyticsSnapshot.objects.filter(tenant=tenant).update(**values)
        snapshot = AnalyticsSnapshot.objects.get(tenant=tenant)
    return snapshot


def current(tenant: Tenant) -> AnalyticsSnapshot:
    """The tenant's stored snapshot, computed now when it has none (or an older shape)."""
    snapshot = AnalyticsSnapshot.objects.filter(tenant=tenant).first()
    if snapshot is None or snapshot.data.get("version") != VERSION:
        snapshot = refresh(tenant)
    return snapshot
