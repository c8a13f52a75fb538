"""The upload flow: upload → parse → write → score → match → announce.

    1. digest the upload and choose its parser (findings.services)     refused: nothing stored
    2. BEGIN; resolve (or create) and lock the application; answer an idempotent replay;
       queue a large upload
    3. parse and write findings, occurrences, components (findings.ingestion → writer)
    4. score what the import touched (intel.scoring), inline or by a worker after commit
    5. handle the writer's `finding.changed` events: tickets (connectors), same transaction
    6. match an SBOM's components against OSV advisories (intel.osv_match), its events too
    7. record the scan's counts; COMMIT
    8. after commit: queued workers (large risk refreshes, matching, queued imports)

The whole import is one transaction, so a bad report stores nothing, not even an application
created for it (it is created inside the transaction, after the format was recognised). A
large upload is queued once its format is recognised: its application is created then, and a
worker that later finds the report invalid marks the scan failed. Step 5 runs inside it so
tickets and findings commit together (the transactional outbox); `events.handle` marks the
events handled, and the after-commit dispatch skips them.

A queued report is stored in a file of its own (apps/findings/scan_queue.py). The worker
claims the scan under a lease, imports it in one transaction fenced by that lease, and marks
it failed on any error (after the import rolled back) except losing the database, which puts
the scan back in the queue for the task to retry; `scans_sweep` re-queues scans a lost
message or a dead worker left behind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import BinaryIO

import psycopg
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import InterfaceError, OperationalError, close_old_connections, transaction

from apps.findings.counts import result_counts
from apps.findings.ingestion import ingest_report
from apps.findings.models import Application, Scan
from apps.findings.outcome import Outcome
from apps.findings.parsers import ParseError, PathContext, get_parser, path_context
from apps.findings.parsers.base import Parser
from apps.findings.scan_queue import (
    LeaseLost,
    lease_owner_token,
    scan_claim,
    scan_fail,
    scan_lease_renew,
    scan_queue,
    scan_release,
    scan_requeue,
    scan_settle,
    scans_stuck,
    uploads_purge_orphans,
)
from apps.findings.services import (
    application_lock,
    application_resolve,
    invalid_report_message,
    parse_error_code,
    parse_error_details,
    parser_for,
    scan_finish,
    scan_replay_of,
    scan_start,
    source_root_clean,
    upload_digest,
)
from apps.findings.targets import verbatim
from apps.intel.osv_match import match_application_components
from apps.intel.scoring import risk_refresh
from apps.intel.tasks import match_application_task
from apps.pipeline.tasks import risk_refresh_task, scan_process_task
from apps.tenants.models import Tenant
from fixops.platform import events, metrics
from fixops.platform.errors import DomainError, Invalid
from fixops.platform.gc import collector_paused
from fixops.platform.lease import LeaseHeartbeat

logger = logging.getLogger(__name__)
# Connection-level failures (psycopg's own when raised outside Django's cursor wrapper, e.g. COPY).
DATABASE_GONE = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)


def scan_submit(
    *,
    tenant: Tenant,
    upload: UploadedFile,
    application: Application | None = None,
    application_ref: str = "",
    create_application: bool = False,
    create_requires: dict[str, str] | None = None,
    format: str = "",
    tool: str = "",
    commit: str = "",
    branch: str = "",
    pipeline_run: str = "",
    uploaded_by: str = "",
    target: str = "",
    source_root: str = "",
) -> tuple[Scan, bool]:
    """Import an uploaded report in one transaction; returns (scan, created): created is
    False for an idempotent replay (the current scan of the stream, these same bytes). Large
    files are queued for a worker. A bad report raises Invalid and stores nothing.

    The application is `application`, or the one `application_ref` names (created when
    `create_application`, inside the transaction: see `application_resolve`; when not,
    `create_requires` names the role or scope that creating it would need)."""
    source_root = source_root_clean(source_root)
    sha256, size, head = upload_digest(upload)
    detected = parser_for(format, head)
    scan = Scan(
        tenant=tenant,
        sha256=sha256,
        size_bytes=size,
        format=detected.format,
        tool_name=tool[:100],
        commit=commit[:100],
        branch=branch[:255],
        target=verbatim(target),  # "" : taken from the report while importing
        pipeline_run=pipeline_run[:255],
        uploaded_by=uploaded_by[:150],
        source_root=source_root[:1000],
    )
    try:
        with transaction.atomic():
            if application is None:
                application = application_resolve(
                    tenant=tenant,
                    ref=application_ref,
                    create=create_application,
                    actor=uploaded_by or "system",
                    create_requires=create_requires,
                )
            scan.application = application
            application_lock(application)
            current = scan_replay_of(
                application=application,
                branch=scan.branch,
                sha256=sha256,
                target=scan.target,
                fmt=scan.format,
            )
            if current is not None:
                metrics.scans.labels(scan.format, "replayed").inc()
                return current, False
            if size > settings.FIXOPS_INGEST_ASYNC_BYTES:
                scan_queue(scan=scan, upload=upload)
                transaction.on_commit(lambda: _dispatch_queued(scan), robust=True)
                return scan, True
            scan_start(scan=scan)
            upload.seek(0)
            parser = get_parser(scan.format, paths=_paths(scan, application))
            _import(scan, parser, upload, tool)
    except ParseError as exc:
        metrics.scans.labels(scan.format, "refused").inc()
        raise Invalid(
            invalid_report_message(exc),
            code=parse_error_code(exc),
            details=parse_error_details(exc),
        ) from None
    return scan, True


def _dispatch_queued(scan: Scan) -> None:
    metrics.scans.labels(scan.format, "queued").inc()
    scan_process_task.delay(scan_id=scan.pk)


def scan_process(*, scan_id: int) -> Scan | None:
    """Import a queued scan (worker side) under a lease; safe to run twice and concurrently:
    a delivery that finds the scan held by a live lease, or finished, does nothing. Any
    error marks the scan failed with `{code, message}` and stores no finding."""
    owner = lease_owner_token()
    scan = scan_claim(scan_id=scan_id, owner=owner)
    if scan is None:
        return Scan.objects.filter(pk=scan_id).first()
    error: dict | None = None
    heartbeat = LeaseHeartbeat(
        lambda: scan_lease_renew(scan_id=scan_id, owner=owner),
        interval=settings.FIXOPS_SCAN_LEASE_SECONDS / 3,
        name=f"scan-{scan_id}",
    )
    try:
        # The heartbeat stops last, once the import's transaction has ended.
        with heartbeat, transaction.atomic(), _stored_report(scan) as stream:
            application_lock(scan.application)
            parser = get_parser(scan.format, paths=_paths(scan, scan.application))
            settle = partial(scan_settle, scan_id=scan_id, owner=owner)
            _import(scan, parser, stream, scan.tool_name, settle=settle)
    except LeaseLost:
        # Another worker took the scan over (this one stalled past its lease): its import
        # counts; this one rolled back.
        logger.warning("scan %s: lease lost to another worker; import rolled back", scan_id)
    except ParseError as exc:
        error = {"code": parse_error_code(exc), "message": invalid_report_message(exc)}
        error.update(parse_error_details(exc))
    except DomainError as exc:  # a refusal of the report itself, e.g. too_many_results
        error = {"code": exc.code, "message": exc.message, **(exc.details or {})}
    except ReportMissing:
        error = {
            "code": "upload_missing",
            "message": "The stored report of this queued scan is gone (deleted, or "
            "FIXOPS_UPLOAD_DIR is not shared by the web and worker hosts); upload it again.",
        }
    except DATABASE_GONE as exc:
        # The database went away under the import (restart, failover, a killed connection):
        # it rolled back and the report is intact, so the scan goes back to the queue and the
        # task retries it; failing it would lose an upload nothing was wrong with.
        logger.warning("scan %s: the database went away mid-import (%s); re-queued", scan_id, exc)
        _release_when_back(scan_id, owner)
        raise ImportInterrupted(scan_id) from exc
    except Exception as exc:  # noqa: BLE001 - every failure ends the scan, with its reason
        logger.exception("scan %s: the queued import failed", scan_id)
        error = {
            "code": "import_failed",
            "message": f"The import failed: {type(exc).__name__}: {exc}"[:2000],
        }
    if error is not None:
        scan_fail(scan_id=scan_id, error=error, owner=owner)
        metrics.scans.labels(scan.format, "failed").inc()
    return Scan.objects.filter(pk=scan_id).first()


class ImportInterrupted(Exception):  # noqa: N818 - a condition the task retries
    """The database went away mid-import; the scan was released (or its lease will expire)."""


def _release_when_back(scan_id: int, owner: str) -> None:
    """Release the scan as soon as the database answers again, for a third of the lease at
    most; if it does not, the lease expires and the sweeper re-queues the scan."""
    deadline = time.monotonic() + settings.FIXOPS_SCAN_LEASE_SECONDS / 3
    while True:
        try:
            scan_release(scan_id=scan_id, owner=owner)
            return
        except DATABASE_GONE:
            close_old_connections()
            if time.monotonic() >= deadline:
                logger.warning("scan %s: database still away; the sweeper re-queues it", scan_id)
                return
            time.sleep(1)


class ReportMissing(Exception):  # noqa: N818 - a condition of the queue, shown as upload_missing
    """A queued scan's stored report cannot be found."""


def _stored_report(scan: Scan) -> BinaryIO:
    if not scan.upload:
        raise ReportMissing(f"scan {scan.pk} has no stored report")
    try:
        return Path(scan.upload).open("rb")
    except FileNotFoundError:
        raise ReportMissing(scan.upload) from None


def scans_sweep() -> dict[str, int]:
    """Re-queue scans stuck queued (their broker message lost) or under an expired lease
    (their worker died), or fail them (report gone, or re-queued three times already); delete
    stored reports no unfinished scan refers to."""
    outcomes = {"requeued": 0, "failed": 0, "orphans": uploads_purge_orphans()}
    for scan_id in scans_stuck():
        with transaction.atomic():
            outcome = scan_requeue(scan_id=scan_id)
            if outcome == "requeued":
                transaction.on_commit(partial(scan_process_task.delay, scan_id=scan_id))
        if outcome:
            outcomes[outcome] += 1
    return outcomes


def _paths(scan: Scan, application: Application) -> PathContext:
    """How absolute paths in the report resolve: the upload's source_root, then the
    application's configured roots (after any the report declares itself)."""
    return path_context(source_root=scan.source_root, roots=application.source_roots)


def _import(
    scan: Scan,
    parser: Parser,
    stream: BinaryIO,
    tool_override: str,
    settle: Callable[[], None] | None = None,
) -> Outcome:
    started = time.perf_counter()
    with collector_paused():
        outcome = ingest_report(
            scan=scan, parser=parser, stream=stream, tool_override=tool_override
        )
    _score(scan, outcome.finding_ids)
    # After scoring, so integrations' risk thresholds see fresh scores.
    events.handle_ids(event.pk for event in outcome.events)
    if outcome.counts.get("components"):
        outcome.counts["advisory_findings_new"] = _match_advisories(
            scan, outcome.counts["components"]
        )
    if settle is not None:
        settle()  # last, just before the scan is recorded done: the lease fence
    scan_finish(scan=scan, outcome=outcome)
    _count_import(scan, time.perf_counter() - started)
    return outcome


def _count_import(scan: Scan, seconds: float) -> None:
    """The import's metrics, once it commits (a rolled-back import counts as failed)."""
    fmt, counts = scan.format, result_counts(scan.counts)

    def record() -> None:
        metrics.scans.labels(fmt, "imported").inc()
        metrics.import_latency.labels(fmt).observe(seconds)
        for outcome in ("findings", "lost", "suppressed"):
            if counts[outcome]:
                metrics.ingest_results.labels(fmt, outcome).inc(counts[outcome])

    transaction.on_commit(record)


def _score(scan: Scan, finding_ids: list[int]) -> None:
    """Inline for CI-sized reports, so the answer (and a gate that follows) sees fresh scores;
    by a worker after commit for big ones."""
    if len(finding_ids) <= settings.FIXOPS_RISK_INLINE_MAX:
        risk_refresh(finding_ids=finding_ids)
    else:
        application_id = scan.application_id
        transaction.on_commit(lambda: risk_refresh_task.delay(application_id=application_id))


def _match_advisories(scan: Scan, components: int) -> int | None:
    """Match an SBOM's components against the stored OSV advisories, so a plain SBOM yields
    findings: inline for CI-sized SBOMs (returns how many findings are new), by a worker after
    commit for large ones (returns None: not known yet)."""
    if components <= settings.FIXOPS_RISK_INLINE_MAX:
        result = match_application_components(scan.application_id)
        events.handle_ids(event.pk for event in result.events)
        return result.stats.get("findings_new", 0)
    application_id = scan.application_id
    transaction.on_commit(lambda: match_application_task.delay(application_id=application_id))
    return None
