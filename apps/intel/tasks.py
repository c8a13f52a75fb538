"""Celery wrappers for intel services."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="fixops.intel.refresh_feed", acks_late=True, ignore_result=True)
def refresh_feed_task(*, name: str) -> dict[str, Any]:
    """Refresh one feed (epss, kev, osv) from its configured URL; safe to run twice (a second
    run gets 304 Not Modified, or reloads the same file to the same result)."""
    from apps.intel.services import feed_refresh_detailed

    run = feed_refresh_detailed(name=name)
    return {
        "feed": name,
        "unchanged": run.unchanged,
        "rows": run.status.row_count,
        "version": run.status.version,
        "events": run.result.events if run.result else 0,
        "rescored": run.rescored,
    }


@shared_task(name="fixops.intel.match_application", acks_late=True, ignore_result=True)
def match_application_task(*, application_id: int) -> dict[str, Any]:
    """Match an application's components against OSV advisories (after a large SBOM)."""
    from apps.intel.osv_match import match_application_components

    return match_application_components(application_id).stats
