"""Sightings that a repeated scan did not write row by row (docs/ingestion.md, "Repeated reports").

A scan that repeats its streams' last scan (apps/findings/repeat.py) moves each stream's
`last_scan` and `last_scan_at` and marks it `sightings_pending`, instead of writing last_seen
and last_scan on every live occurrence of the stream and on their findings. Every live
occurrence of such a stream was reported by that scan, so readers take the two values from the
stream (`findings_seen`, `occurrences_seen`, `reported_by`). The findings writer's `settle`
writes them into the rows before anything else changes which occurrences of the stream are
live (a full import of it, a retirement, an adoption), and clears the mark.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db.models import Q, QuerySet

from apps.findings.models import Finding, Occurrence, Stream

StreamKey = tuple[int, str, str, str]  # (application_id, tool, branch, target)
Sighting = tuple[int | None, datetime]  # (last_scan_id, last_scan_at)


def pending(application_ids: Iterable[int]) -> dict[StreamKey, Sighting]:
    """The pending streams of the applications, with their last scan and its time."""
    rows = Stream.objects.filter(
        application_id__in=sorted(set(application_ids)), sightings_pending=True
    ).values_list("application_id", "tool", "branch", "target", "last_scan_id", "last_scan_at")
    return {(app, tool, branch, target): (scan, at) for app, tool, branch, target, scan, at in rows}


def findings_seen(findings: Sequence[Finding]) -> None:
    """Give `findings` (a page, a detail) the last_seen and last_scan_id of the pending streams
    that report them, where later than their own (two queries; one if none is pending)."""
    streams = pending(f.application_id for f in findings)
    if not streams:
        return
    latest: dict[int, Sighting] = {}
    rows = Occurrence.objects.filter(
        finding_id__in=[f.pk for f in findings], retracted_at__isnull=True
    ).values_list("finding_id", "application_id", "tool", "branch", "target")
    for finding_id, *key in rows:
        seen = streams.get(tuple(key))  # type: ignore[arg-type]
        if seen is not None and (finding_id not in latest or seen[1] > latest[finding_id][1]):
            latest[finding_id] = seen
    for finding in findings:
        seen = latest.get(finding.pk)
        if seen is not None and seen[1] > finding.last_seen:
            finding.last_scan_id, finding.last_seen = seen


def occurrences_seen(occurrences: Sequence[Occurrence]) -> None:
    """Give the live ones of `occurrences` their pending stream's last scan and its time."""
    streams = pending(o.application_id for o in occurrences)
    for occurrence in occurrences:
        if occurrence.retracted_at is not None:
            continue
        key = (occurrence.application_id, occurrence.tool, occurrence.branch, occurrence.target)
        seen = streams.get(key)
        if seen is not None and seen[1] > occurrence.last_seen:
            occurrence.last_scan_id, occurrence.last_seen = seen


def live_in(streams: Iterable[Stream]) -> QuerySet[Occurrence]:
    """The live occurrences of `streams` (one application's)."""
    where = Q(pk__in=[])
    for stream in streams:
        where |= Q(
            application_id=stream.application_id,
            tool=stream.tool,
            branch=stream.branch,
            target=stream.target,
        )
    return Occurrence.objects.filter(where, retracted_at__isnull=True)


def reported_by(application_id: int, scan_ids: Iterable[int]) -> set[int]:
    """Ids of the findings that a pending stream's last scan, one of `scan_ids`, reported."""
    scan_ids = set(scan_ids)
    streams = [
        Stream(application_id=app, tool=tool, branch=branch, target=target)
        for (app, tool, branch, target), (scan, _) in pending([application_id]).items()
        if scan in scan_ids
    ]
    if not streams:
        return set()
    return set(live_in(streams).values_list("finding_id", flat=True))
