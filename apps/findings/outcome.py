"""What one import did: the scan's counts, noise figures and skipped results, and its events."""

from __future__ import annotations

from dataclasses import dataclass, field

from fixops.platform.models import Event

SKIPPED_KEPT = 1000  # skipped results a scan lists; all of them are counted


@dataclass
class Outcome:
    counts: dict[str, int]
    noise: dict
    skipped: list[dict] = field(default_factory=list)
    tool_name: str = ""
    tool_version: str = ""
    target: str = ""
    finding_ids: list[int] = field(default_factory=list)
    # The writer's `finding.changed` events (written in the import's transaction).
    events: list[Event] = field(default_factory=list)
    # The report's content digest when a later scan may repeat this one (apps/findings/
    # repeat.py), else "".
    content_digest: str = ""
