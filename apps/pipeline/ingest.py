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
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from apps.findings.ingestion import Outcome, ingest_report
from apps.findings.models import Application, Scan, ScanStatus
from apps.findings.parsers import ParseError, PathContext, get_parser, path_context
from apps.findings.parsers.base import Parser
from apps.findings.services import (
    application_lock,
    application_resolve,
    parse_error_code,
    parse_error_details,
    parser_for,
    scan_fail,
    scan_finish,
    scan_queue,
    scan_release_upload,
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
from fixops.platform import events
from fixops.platform.errors import Invalid
from fixops.platform.gc import collector_paused


def scan_submit(
    *,
    tenant: Tenant,
    upload: UploadedFile,
    application: Application | None = None,
    application_ref: str = "",
    create_application: bool = False,
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
    `create_application`, inside the transaction: see `application_resolve`)."""
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
                    tenant=tenant, ref=application_ref, create=create_application
                )
            scan.application = application
            application_lock(application)
            current = scan_replay_of(
                application=application, branch=scan.branch, sha256=sha256, target=scan.target
            )
            if current is not None:
                return current, False
            if size > settings.FIXOPS_INGEST_ASYNC_BYTES:
                scan_queue(scan=scan, upload=upload)
                transaction.on_commit(lambda: scan_process_task.delay(scan_id=scan.pk))
                return scan, True
            scan_start(scan=scan)
            upload.seek(0)
            parser = get_parser(scan.format, paths=_paths(scan, application))
            _import(scan, parser, upload, tool)
    except ParseError as exc:
        raise Invalid(
            f"The {exc.format} report is not valid: {exc.message}",
            code=parse_error_code(exc),
            details=parse_error_details(exc),
        ) from None
    return scan, True


def scan_process(*, scan_id: int) -> Scan | None:
    """Import a queued scan (worker side). A failure marks the scan failed with the error and
    stores no finding; running it twice is harmless."""
    scan = Scan.objects.filter(pk=scan_id).first()
    if scan is None or scan.status in (ScanStatus.DONE, ScanStatus.FAILED):
        return scan
    try:
        with transaction.atomic(), Path(scan.upload).open("rb") as stream:
            application_lock(scan.application)
            scan_start(scan=scan)
            parser = get_parser(scan.format, paths=_paths(scan, scan.application))
            _import(scan, parser, stream, scan.tool_name)
    except ParseError as exc:
        scan_fail(scan=scan, error=parse_error_details(exc))
    scan_release_upload(scan=scan)
    scan.refresh_from_db()
    return scan


def _paths(scan: Scan, application: Application) -> PathContext:
    """How absolute paths in the report resolve: the upload's source_root, then the
    application's configured roots (after any the report declares itself)."""
    return path_context(source_root=scan.source_root, roots=application.source_roots)


def _import(scan: Scan, parser: Parser, stream: BinaryIO, tool_override: str) -> Outcome:
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
    scan_finish(scan=scan, outcome=outcome)
    return outcome


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
