"""FeedStatus bookkeeping: one row per feed, shown on /readyz and in the admin.

Attempts and errors are written outside the loader's transaction, so a failed refresh is
recorded even though its data changes were rolled back. Success is written inside the
loader's transaction, so the status never claims a version the tables do not hold.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from apps.intel.models import FeedStatus

FEEDS = ("epss", "kev", "osv")
ERROR_MAX_CHARS = 2000


def feed_status_get(*, name: str) -> FeedStatus:
    """The status row of a feed, created on first use."""
    status, _ = FeedStatus.objects.get_or_create(name=name)
    return status


def feed_attempt_record(*, name: str) -> FeedStatus:
    """Note that a refresh started. `url` stays the source of the data held (it is set on
    success), so conditional-request validators are only ever sent back to that source."""
    status = feed_status_get(name=name)
    status.last_attempt = timezone.now()
    status.save(update_fields=["last_attempt"])
    return status


def feed_success_record(
    *,
    name: str,
    url: str,
    row_count: int,
    version: str,
    sha256: str,
    etag: str = "",
    last_modified: str = "",
) -> FeedStatus:
    """Record a load that replaced the feed's data."""
    status = feed_status_get(name=name)
    status.url = url[:1000]
    status.last_success = timezone.now()
    status.row_count = row_count
    status.version = version[:100]
    status.sha256 = sha256
    status.etag = etag[:300]
    status.last_modified = last_modified[:100]
    status.last_error = ""
    status.save(
        update_fields=[
            "url",
            "last_success",
            "row_count",
            "version",
            "sha256",
            "etag",
            "last_modified",
            "last_error",
        ]
    )
    return status


def feed_unchanged_record(*, name: str, etag: str = "", last_modified: str = "") -> FeedStatus:
    """Record a 304: the data held is still the published one, so it counts as a success."""
    status = feed_status_get(name=name)
    status.last_success = timezone.now()
    status.last_error = ""
    fields = ["last_success", "last_error"]
    # A 304 may carry refreshed validators; keep the newest ones for the next request.
    if etag:
        status.etag = etag[:300]
        fields.append("etag")
    if last_modified:
        status.last_modified = last_modified[:100]
        fields.append("last_modified")
    status.save(update_fields=fields)
    return status


def feed_error_record(*, name: str, error: str) -> FeedStatus:
    """Record why a refresh failed; the previous data and its version stay as they were."""
    status = feed_status_get(name=name)
    status.last_error = error[:ERROR_MAX_CHARS]
    status.save(update_fields=["last_error"])
    return status


def feed_statuses() -> list[dict[str, Any]]:
    """Every known feed's state for /readyz (feeds never run yet are listed as such)."""
    rows = {row.name: row for row in FeedStatus.objects.all()}
    now = timezone.now()
    out = []
    for name in sorted(set(FEEDS) | set(rows)):
        row = rows.get(name)
        if row is None:
            out.append(
                {
                    "name": name,
                    "last_success": None,
                    "last_attempt": None,
                    "row_count": 0,
                    "version": "",
                    "last_error": "",
                    "age_seconds": None,
                }
            )
            continue
        out.append(
            {
                "name": name,
                "last_success": row.last_success.isoformat() if row.last_success else None,
                "last_attempt": row.last_attempt.isoformat() if row.last_attempt else None,
                "row_count": row.row_count,
                "version": row.version,
                "last_error": row.last_error,
                "age_seconds": (
                    round((now - row.last_success).total_seconds(), 1) if row.last_success else None
                ),
            }
        )
    return out
