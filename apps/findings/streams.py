"""Scan streams (application, tool, branch, target): bookkeeping, adoption, retirement.

The rules are in docs/ingestion.md ("Targets"). The import calls `streams_seen` for the tools
a report speaks for (adopting the untargeted stream of an upgrade first); a stream that stops
being scanned is retired, by a person (`stream_retire`) or when silent for
FIXOPS_STREAM_STALE_DAYS (`streams_retire_stale`, a beat task): its live occurrences are
retracted through the findings writer, which closes the findings no other stream reports.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.findings.locks import applications_lock
from apps.findings.models import Application, Scan, ScanStatus, Stream
from apps.findings.sightings import live_in
from apps.findings.writer import FindingWriter
from apps.tenants.models import Tenant
from fixops.platform.audit import audit_record
from fixops.platform.errors import NotFound


def streams_pending(
    *, scan: Scan, tools: Iterable[str], target: str, writer: FindingWriter
) -> list[Stream]:
    """The streams of a full import of `scan` whose sightings a repeated scan left pending
    (apps/findings/sightings.py), as they are before the import moves them: the import
    settles them once it has written its own sightings, so only the rows it did not write
    are written twice. Untargeted ones it may adopt are settled now, before they move."""
    tools = sorted({tool[:100] for tool in tools if tool})
    found = list(
        Stream.objects.filter(
            application_id=scan.application_id,
            branch=scan.branch,
            tool__in=tools,
            target__in=sorted({target, ""}),
            sightings_pending=True,
        )
    )
    writer.settle([stream for stream in found if stream.target != target])
    return [stream for stream in found if stream.target == target]


def streams_seen(*, scan: Scan, tools: Iterable[str], target: str, writer: FindingWriter) -> int:
    """Adopt the untargeted streams a named scan continues, then mark the scan's streams
    scanned now (live again if retired). Returns the occurrences adopted."""
    tools = sorted({tool[:100] for tool in tools if tool})
    adopted = _adopt(scan, tools, target, writer) if target else 0
    Stream.objects.bulk_create(
        [
            Stream(
                tenant_id=scan.tenant_id,
                application_id=scan.application_id,
                tool=tool,
                branch=scan.branch,
                target=target,
                first_scan_id=scan.pk,
                last_scan_id=scan.pk,
                last_scan_at=writer.now,
            )
            for tool in tools
        ],
        update_conflicts=True,
        unique_fields=["application", "tool", "branch", "target"],
        update_fields=[
            "last_scan",
            "last_scan_at",
            "retired_at",
            "retired_reason",
            "sightings_pending",
        ],
    )
    return adopted


def _adopt(scan: Scan, tools: list[str], target: str, writer: FindingWriter) -> int:
    """The first named scan of an (application, tool, branch) whose only stream is the
    untargeted one left by the upgrade takes that stream over: its occurrences, its row and
    its scans get `target`, so the upgrade closes and duplicates nothing."""
    known: dict[str, set[str]] = defaultdict(set)
    rows = Stream.objects.filter(
        application_id=scan.application_id, branch=scan.branch, tool__in=tools
    ).values_list("tool", "target")
    for tool, name in rows:
        known[tool].add(name)
    adopting = [tool for tool in tools if known.get(tool) == {""}]
    if not adopting:
        return 0
    moved = writer.adopt(
        application_id=scan.application_id, branch=scan.branch, tools=adopting, target=target
    )
    same = {"application_id": scan.application_id, "branch": scan.branch, "target": ""}
    Stream.objects.filter(tool__in=adopting, **same).update(target=target)
    # Finished scans only: a queued one still takes its target from its own report.
    done = Scan.objects.filter(tool_name__in=adopting, status=ScanStatus.DONE, **same)
    done.exclude(pk=scan.pk).update(target=target)
    return moved


# --- Retirement -----------------------------------------------------------------------------


def _retire(stream: Stream, *, writer: FindingWriter, reason: str) -> tuple[int, int]:
    """Retract the stream's live occurrences (closing findings no other stream reports) and
    mark it retired; returns (occurrences retracted, findings closed)."""
    writer.settle([stream])
    live = list(live_in([stream]).values_list("id", "finding_id"))
    closed = writer.retract(live, reason=reason)
    stream.retired_at = writer.now
    stream.retired_reason = reason[:200]
    stream.save(update_fields=["retired_at", "retired_reason"])
    return len(live), closed


def stream_retire(
    *,
    tenant: Tenant,
    application: Application,
    tool: str,
    branch: str,
    target: str,
    actor: str,
) -> dict:
    """Retire one stream by hand (the thing it scanned is gone); audited."""
    with transaction.atomic():
        applications_lock([application.pk])
        stream = (
            Stream.objects.for_tenant(tenant)
            .filter(application=application, tool=tool, branch=branch, target=target)
            .first()
        )
        if stream is None:
            raise NotFound(
                "No such scan stream (application, tool, branch, target).",
                code="unknown_stream",
            )
        writer = FindingWriter(cause=f"stream{stream.pk}-retired", actor=actor, audit=False)
        retracted, closed = _retire(stream, writer=writer, reason=f"stream retired by {actor}")
        writer.finish(comment=f"FixOps: scan stream {stream} retired by {actor}")
        key = {"application": application.name, "tool": tool, "branch": branch, "target": target}
        audit_record(
            tenant=tenant,
            actor=actor,
            action="stream.retire",
            target_type="stream",
            target_id=stream.pk,
            before={**key, "open_occurrences": retracted},
            after={**key, "retired_at": stream.retired_at, "findings_closed": closed},
        )
    return {"stream": stream, "occurrences_retracted": retracted, "findings_closed": closed}


def streams_retire_stale(*, now: datetime | None = None) -> dict[str, int]:
    """Retire every stream silent for FIXOPS_STREAM_STALE_DAYS that still has live
    occurrences; one transaction per application. Safe to run twice."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.FIXOPS_STREAM_STALE_DAYS)
    stale = Stream.objects.filter(last_scan_at__lt=cutoff, retired_at__isnull=True).order_by(
        "application_id", "id"
    )
    by_application: dict[int, list[int]] = defaultdict(list)
    for pk, application_id in stale.values_list("id", "application_id"):
        by_application[application_id].append(pk)
    totals = {"streams": 0, "occurrences_retracted": 0, "findings_closed": 0}
    reason = f"scan stream silent for {settings.FIXOPS_STREAM_STALE_DAYS} days"
    for application_id, ids in by_application.items():
        with transaction.atomic():
            applications_lock([application_id])
            writer = FindingWriter(
                cause=f"stale-streams-{now:%Y%m%d}", actor="fixops:streams", audit=False
            )
            streams = Stream.objects.filter(
                pk__in=ids, last_scan_at__lt=cutoff, retired_at__isnull=True
            )
            for stream in streams:
                retracted, closed = _retire(stream, writer=writer, reason=reason)
                audit_record(
                    tenant=Tenant(pk=stream.tenant_id),
                    actor="fixops:streams",
                    action="stream.retire",
                    target_type="stream",
                    target_id=stream.pk,
                    before={"tool": stream.tool, "branch": stream.branch, "target": stream.target},
                    after={"reason": reason, "findings_closed": closed, "retracted": retracted},
                )
                totals["streams"] += 1
                totals["occurrences_retracted"] += retracted
                totals["findings_closed"] += closed
            writer.finish(comment=f"FixOps: {reason}")
    return totals
