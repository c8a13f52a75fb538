"""Writes for applications and scans (ingestion itself lives in ingestion.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.connectors.tickets import finding_status_changed, scan_findings_changed
from apps.findings.lifecycle import ACTIVE, TransitionError, check_transition
from apps.findings.models import Application, Finding, FindingEvent, FindingStatus, Scan, ScanStatus
from apps.findings.parsers import HEAD_BYTES, ParseError, detect_parser, get_parser
from apps.tenants.models import Tenant
from fixops.platform.errors import Conflict, Invalid, NotFound, TooLarge

APPLICATION_FIELDS = (
    "name",
    "description",
    "repo_url",
    "criticality",
    "internet_exposed",
    "data_classification",
    "owners",
)


def _save(application: Application, update_fields: list[str] | None = None) -> Application:
    try:
        with transaction.atomic():
            application.save(update_fields=update_fields)
    except IntegrityError:
        raise Conflict(
            f"An application named {application.name!r} already exists.",
            code="conflict",
            details={"name": ["must be unique within the tenant"]},
        ) from None
    return application


def application_create(*, tenant: Tenant, name: str, **fields: Any) -> Application:
    """Create an application in `tenant`; 409 if the name is taken."""
    unknown = set(fields) - set(APPLICATION_FIELDS)
    if unknown:
        raise TypeError(f"unknown application fields: {sorted(unknown)}")
    return _save(Application(tenant=tenant, name=name, **fields))


def application_update(*, application: Application, **fields: Any) -> Application:
    """Change the given fields of an application (others untouched)."""
    unknown = set(fields) - set(APPLICATION_FIELDS)
    if unknown:
        raise TypeError(f"unknown application fields: {sorted(unknown)}")
    for name, value in fields.items():
        setattr(application, name, value)
    return _save(application, update_fields=[*fields, "updated_at"])


def application_delete(*, application: Application) -> None:
    """Delete an application and everything that belongs to it."""
    with transaction.atomic():
        application.delete()


# --- Scans -------------------------------------------------------------------------------------


def application_resolve(*, tenant: Tenant, ref: str, create: bool) -> Application:
    """The application named `ref` (or with id `ref`); created on first use when `create`."""
    from apps.findings.selectors import application_find

    application = application_find(tenant=tenant, ref=ref)
    if application is not None:
        return application
    if not create:
        raise NotFound(
            f"No application {ref!r}; your role may not create applications.",
            code="unknown_application",
        )
    try:
        return application_create(tenant=tenant, name=ref.strip())
    except Conflict:
        # Created concurrently by another upload: use theirs.
        return application_find(tenant=tenant, ref=ref)


def scan_submit(
    *,
    tenant: Tenant,
    application: Application,
    upload: UploadedFile,
    format: str = "",
    tool: str = "",
    commit: str = "",
    branch: str = "",
    pipeline_run: str = "",
    uploaded_by: str = "",
) -> tuple[Scan, bool]:
    """Import an uploaded report in one transaction; returns (scan, created). Large files are
    queued for a worker. A bad report raises Invalid and stores nothing."""
    sha256, size, head = _digest(upload)
    parser = _choose_parser(format, head)
    scan = Scan(
        tenant=tenant,
        application=application,
        sha256=sha256,
        size_bytes=size,
        format=parser.format,
        tool_name=tool[:100],
        commit=commit[:100],
        branch=branch[:255],
        pipeline_run=pipeline_run[:255],
        uploaded_by=uploaded_by[:150],
    )
    try:
        with transaction.atomic():
            # Serialises imports per application: dedup and closure see a stable picture.
            Application.objects.select_for_update().filter(pk=application.pk).first()
            current = _current_scan_with_bytes(application, scan.branch, sha256)
            if current is not None:
                return current, False
            if size > settings.FIXOPS_INGEST_ASYNC_BYTES:
                return _queue(scan, upload), True
            scan.status = ScanStatus.PROCESSING
            scan.save()
            upload.seek(0)
            _apply(scan, parser, upload, tool)
    except ParseError as exc:
        raise Invalid(
            f"The {exc.format} report is not valid: {exc.message}",
            code="invalid_report",
            details=parse_error_details(exc),
        ) from None
    return scan, True


def _current_scan_with_bytes(application: Application, branch: str, sha256: str) -> Scan | None:
    """The scan to answer with when these bytes were already imported and are still the
    latest report of their stream (application, branch, tool). Re-sending a CI job's report
    changes nothing; the same bytes after a newer report of that stream (A, B, A) are
    imported again, because they change the state back."""
    candidate = (
        Scan.objects.filter(application=application, branch=branch, sha256=sha256)
        .exclude(status=ScanStatus.FAILED)
        .order_by("-id")
        .first()
    )
    if candidate is None:
        return None
    newer = Scan.objects.filter(
        application=application, branch=branch, tool_name=candidate.tool_name, id__gt=candidate.pk
    ).exclude(status=ScanStatus.FAILED)
    return None if newer.exists() else candidate


def scan_process(*, scan_id: int) -> Scan | None:
    """Import a queued scan (worker side). A failure marks the scan failed with the error and
    stores no finding; running it twice is harmless."""
    scan = Scan.objects.filter(pk=scan_id).first()
    if scan is None or scan.status in (ScanStatus.DONE, ScanStatus.FAILED):
        return scan
    path = Path(scan.upload)
    try:
        with transaction.atomic(), path.open("rb") as stream:
            Scan.objects.filter(pk=scan.pk).update(status=ScanStatus.PROCESSING, progress=10)
            _apply(scan, get_parser(scan.format), stream, scan.tool_name)
    except ParseError as exc:
        Scan.objects.filter(pk=scan.pk).update(
            status=ScanStatus.FAILED, error=parse_error_details(exc), finished_at=timezone.now()
        )
    path.unlink(missing_ok=True)
    Scan.objects.filter(pk=scan.pk).update(upload="")
    scan.refresh_from_db()
    return scan


def parse_error_details(exc: ParseError) -> dict:
    return {"format": exc.format, "pointer": exc.pointer, "reason": exc.message}


def _apply(scan: Scan, parser, stream, tool_override: str) -> None:
    from apps.findings.ingestion import ingest_report

    outcome = ingest_report(scan=scan, parser=parser, stream=stream, tool_override=tool_override)
    _refresh_risk(scan, outcome.finding_ids)
    # Outbound tickets (apps/connectors): queued in this transaction, after the risk refresh
    # so integrations' risk thresholds see fresh scores; one bulk insert per scan.
    scan_findings_changed(scan=scan, **outcome.changed)
    if outcome.counts.get("components"):
        outcome.counts["advisory_findings_new"] = _match_advisories(
            scan, outcome.counts["components"]
        )
    scan.tool_name = outcome.tool_name[:100]
    scan.tool_version = outcome.tool_version[:100]
    scan.counts = outcome.counts
    scan.noise = outcome.noise
    scan.skipped = outcome.skipped[:1000]
    scan.status = ScanStatus.DONE
    scan.progress = 100
    scan.finished_at = timezone.now()
    scan.save(
        update_fields=[
            "tool_name",
            "tool_version",
            "counts",
            "noise",
            "skipped",
            "status",
            "progress",
            "finished_at",
        ]
    )


def _refresh_risk(scan: Scan, finding_ids: list[int]) -> None:
    """Score the scan's findings: inline for CI-sized reports, so the answer (and a gate that
    follows) sees fresh scores; by a worker after commit for big ones."""
    from apps.findings.tasks import risk_refresh_task
    from apps.intel.scoring import risk_refresh

    if len(finding_ids) <= settings.FIXOPS_RISK_INLINE_MAX:
        risk_refresh(finding_ids=finding_ids)
    else:
        application_id = scan.application_id
        transaction.on_commit(lambda: risk_refresh_task.delay(application_id=application_id))


def _match_advisories(scan: Scan, components: int) -> int | None:
    """Match an SBOM's components against the stored OSV advisories, so a plain SBOM yields
    findings: inline for CI-sized SBOMs (returns how many findings are new), by a worker after
    commit for large ones (returns None: not known yet)."""
    from apps.intel.osv_match import match_application_components
    from apps.intel.tasks import match_application_task

    if components <= settings.FIXOPS_RISK_INLINE_MAX:
        return match_application_components(scan.application_id).get("findings_new", 0)
    application_id = scan.application_id
    transaction.on_commit(lambda: match_application_task.delay(application_id=application_id))
    return None


def _digest(upload: UploadedFile) -> tuple[str, int, bytes]:
    digest = hashlib.sha256()
    size = 0
    head = b""
    upload.seek(0)
    for chunk in upload.chunks(1024 * 1024):
        if len(head) < HEAD_BYTES:
            head += chunk[: HEAD_BYTES - len(head)]
        digest.update(chunk)
        size += len(chunk)
    if size > settings.FIXOPS_UPLOAD_MAX_BYTES:
        raise TooLarge(
            f"The report is {size} bytes; the limit is {settings.FIXOPS_UPLOAD_MAX_BYTES}.",
            code="too_large",
            details={"limit_bytes": settings.FIXOPS_UPLOAD_MAX_BYTES},
        )
    if size == 0:
        raise Invalid(
            "The uploaded file is empty.", code="invalid_report", details={"file": ["empty"]}
        )
    return digest.hexdigest(), size, head


def _choose_parser(fmt: str, head: bytes):
    try:
        return get_parser(fmt) if fmt else detect_parser(head)
    except ParseError as exc:
        raise Invalid(
            exc.message, code="unknown_format", details=parse_error_details(exc)
        ) from None


def _queue(scan: Scan, upload: UploadedFile) -> Scan:
    from apps.findings.tasks import scan_process_task

    directory = Path(settings.FIXOPS_UPLOAD_DIR) / str(scan.tenant_id)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{scan.sha256}.report"
    upload.seek(0)
    with target.open("wb") as out:
        for chunk in upload.chunks(1024 * 1024):
            out.write(chunk)
    scan.status = ScanStatus.QUEUED
    scan.upload = str(target)
    scan.save()
    transaction.on_commit(lambda: scan_process_task.delay(scan_id=scan.pk))
    return scan


# --- Findings ----------------------------------------------------------------------------------


def finding_transition(
    *, tenant: Tenant, finding: Finding, to_status: str, actor: str, reason: str = ""
) -> Finding:
    """Move a finding through its lifecycle (apps/findings/lifecycle.py) and record who did it.

    Risk acceptance is not a plain transition: it needs an approved request (separation of
    duties), so this refuses it.
    """
    if to_status == FindingStatus.RISK_ACCEPTED:
        raise Conflict(
            "Accepting a risk needs an approved risk-acceptance request, not a status change.",
            code="acceptance_required",
        )
    now = timezone.now()
    with transaction.atomic():
        locked = Finding.objects.select_for_update().get(pk=finding.pk, tenant_id=tenant.pk)
        try:
            check_transition(locked.status, to_status)
        except TransitionError as exc:
            raise Conflict(str(exc), code="invalid_transition") from None
        previous = locked.status
        locked.status = to_status
        locked.updated_at = now
        if to_status == FindingStatus.FIXED:
            locked.closed_at = now
        elif to_status in ACTIVE:
            locked.closed_at = None
        locked.save(update_fields=["status", "updated_at", "closed_at"])
        event = FindingEvent.objects.create(
            tenant_id=tenant.pk,
            finding=locked,
            from_status=previous,
            to_status=to_status,
            actor=actor[:150],
            reason=reason,
        )
        # Outbound tickets (apps/connectors): open/close the finding's tickets, same transaction.
        finding_status_changed(
            finding=locked, previous=previous, event_id=event.pk, actor=actor, reason=reason
        )
    return locked
