"""Feed freshness, read live (three rows): when EPSS, KEV and OSV last loaded and whether
that is within the tenant's `feed_max_age_hours` (apps/policies PolicySettings), the same
bound the gate's confidence uses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apps.intel.feeds.status import FEEDS
from apps.intel.models import FeedStatus
from apps.policies.inputs import settings_for
from apps.tenants.models import Tenant


def feed_freshness(tenant: Tenant, *, now: datetime) -> dict[str, Any]:
    """Per feed: last successful load, its age in hours, fresh or not, version, last error."""
    max_age = settings_for(tenant).feed_max_age_hours
    statuses = {s.name: s for s in FeedStatus.objects.filter(name__in=FEEDS)}
    feeds = []
    for name in FEEDS:
        status = statuses.get(name)
        success = status.last_success if status else None
        age = (now - success).total_seconds() / 3600 if success else None
        feeds.append(
            {
                "name": name,
                "last_success": success,
                "age_hours": None if age is None else round(age, 1),
                "fresh": age is not None and age <= max_age,
                "version": status.version if status else "",
                "last_error": (status.last_error if status else "")[:500],
            }
        )
    return {
        "as_of": now,
        "max_age_hours": max_age,
        "feeds": feeds,
        "stale": sum(1 for f in feeds if not f["fresh"]),
    }
