"""Repeated scans: a report that says what its streams' last scan said (docs/ingestion.md,
"Repeated reports").

A scanner run again on unchanged code writes the same results in other bytes. When the
report's content digest (parsers/content.py) is that of an earlier scan whose streams are all
still as it left them, every result matches a live occurrence that scan wrote or refreshed:
nothing is new, nothing is gone, nothing says anything else. The import then converts, keys
and compares nothing. It records the scan as a repeat: the streams move to it with their
sightings pending (apps/findings/sightings.py), the findings people closed while the scan
still reports them are reopened as a full import would reopen them, and the scan takes the
earlier scan's counts, noise figures and skipped results.

An import leaves a digest for repeats (`repeatable`) only when a full import of the same
report could change nothing but sightings and reopenings: it lost no result (a lossy import
closes nothing, so its streams may keep occurrences it did not report), dismissed nothing by
VEX (a person may have reopened those since), brought no components (their sightings are per
row), and left no live occurrence in its streams that it did not report.
"""

from __future__ import annotations

import time

from django.db.models import F

from apps.findings.lifecycle import CLOSED
from apps.findings.models import Finding, Scan, ScanStatus, Stream
from apps.findings.models.finding import FindingStatus
from apps.findings.outcome import Outcome
from apps.findings.sightings import live_in
from apps.findings.writer import FindingWriter

REOPEN_REASON = "reported again"


def repeatable(*, lost: int, vex_dismissed: int, components: int, kept_unseen: int) -> bool:
    """Whether a later scan with the same content may repeat this import (see the module)."""
    return not (lost or vex_dismissed or components or kept_unseen)


def repeated_scan(scan: Scan, digest: str) -> tuple[Scan, list[Stream]] | None:
    """The finished scan of `scan`'s application and branch with this content digest whose
    streams all still have it as their last scan, live, and those streams; else None."""
    earlier = (
        Scan.objects.filter(
            application_id=scan.application_id,
            content_digest=digest,
            branch=scan.branch,
            status=ScanStatus.DONE,
        )
        .exclude(pk=scan.pk)
        .order_by("-id")
        .first()
    )
    if earlier is None:
        return None
    streams = list(
        Stream.objects.filter(
            application_id=scan.application_id,
            branch=earlier.branch,
            target=earlier.target,
            last_scan_id=earlier.pk,
            retired_at__isnull=True,
        )
    )
    if not streams or len(streams) != earlier.noise.get("streams"):
        return None  # a later scan took over one of its streams, or one was retired
    if len(earlier.skipped) < earlier.noise.get("skipped_listed", 0):
        return None  # retention emptied its skipped results: a repeat could not show them
    return earlier, streams


def repeat(scan: Scan, earlier: Scan, streams: list[Stream], *, digest: str) -> Outcome:
    """Record `scan` as a repeat of `earlier` over `streams` (see the module). Caller holds
    the import's transaction and the application's lock."""
    started = time.perf_counter()
    writer = FindingWriter(
        cause=f"scan{scan.pk}", actor=f"scan:{scan.pk}", scan_id=scan.pk, audit=False
    )
    closed = list(
        Finding.objects.filter(
            pk__in=live_in(streams).values("finding_id"), status__in=sorted(CLOSED)
        ).values_list("pk", "status")
    )
    writer.set_status(
        closed,
        FindingStatus.REOPENED,
        reason=REOPEN_REASON,
        tenant_id=scan.tenant_id,
        closed_at=None,
        closed_by_scan_id=None,
        reopen_count=F("reopen_count") + 1,
        updated_at=writer.now,
    )
    Stream.objects.filter(pk__in=[s.pk for s in streams]).update(
        last_scan_id=scan.pk, last_scan_at=writer.now, sightings_pending=True
    )
    scan.target = earlier.target
    counts = dict(earlier.counts)
    counts["findings_existing"] = counts.get("findings_new", 0) + counts.get("findings_existing", 0)
    counts.update(findings_new=0, findings_closed=0, findings_reopened=len(closed))
    noise = {
        **earlier.noise,
        "repeats_scan": earlier.pk,
        "timings_ms": {"repeat": round((time.perf_counter() - started) * 1000)},
    }
    where = " on ".join(p for p in (earlier.tool_name, scan.branch) if p)
    comment = (
        f"FixOps scan {scan.pk}{f' ({where})' if where else ''}: still reports this finding, "
        "so it is reopened; a fix is verified only when no scan reports it any more"
    )
    return Outcome(
        counts=counts,
        noise=noise,
        skipped=list(earlier.skipped),
        tool_name=earlier.tool_name,
        tool_version=earlier.tool_version,
        target=earlier.target,
        events=writer.finish(comment=comment),
        content_digest=digest,
    )
