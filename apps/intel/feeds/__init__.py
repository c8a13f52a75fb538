"""Public intel feeds (FIRST EPSS, CISA KEV, OSV): download, validate, load, record status.

Each loader validates a whole file before it writes anything and then replaces the current
data in one transaction, so a truncated or malformed download leaves yesterday's data in
place. `apps.intel.services.feed_refresh` ties download, loader and status together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The KEV schema's pattern; EPSS and OSV aliases use the same shape.
CVE_RE = re.compile(r"CVE-\d{4}-\d{4,19}", re.ASCII)


class FeedError(Exception):
    """A feed could not be refreshed; the message is shown to operators as is."""


class FeedRejected(FeedError):
    """The file was fetched but failed validation; the current data was left untouched."""


# Findings still to be dealt with: intel changes about them are worth an event.
OPEN_STATUSES = ("open", "triaged", "in_progress", "reopened")


@dataclass(frozen=True)
class FeedResult:
    """What a loader did: rows loaded, the file's version, the vulnerabilities whose EPSS or
    KEV status changed (for re-scoring) and how many events it wrote."""

    row_count: int
    version: str
    changed: list[str] = field(default_factory=list)
    events: int = 0
