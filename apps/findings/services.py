"""Writes for applications, scans and finding transitions (the import itself is
apps/findings/ingestion.py, composed into the upload flow by apps/pipeline/ingest.py)."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.findings.lifecycle import ACTIVE, TransitionError, check_transition
from apps.findings.locks import applications_lock
from apps.findings.models import Application, Finding, FindingStatus, Scan, ScanStatus
from apps.findings.models.application import source_root_problem, validate_source_roots
from apps.findings.outcome import SKIPPED_KEPT, Outcome
from apps.findings.parsers import (
    HEAD_BYTES,
    NO_PATHS,
    ParseError,
    PathContext,
    TooDeep,
    UnknownFormat,
    detect_parser,
    get_parser,
)
from apps.findings.parsers.base import Parser
from apps.findings.selectors import application_find
from apps.findings.writer import FindingWriter
from apps.tenants.models import Tenant
from fixops.platform import events
from fixops.platform.audit import audit_record
from fixops.platform.deletion import delete_or_conflict
from fixops.platform.errors import Conflict, Invalid, NotFound, TooLarge
from fixops.platform.text import clean_text

APPLICATION_CONTEXT_CHANGED = "application.context_changed"
# What the risk of an application's findings weighs of it (apps/intel/scoring.py).
RISK_CONTEXT = ("criticality", "internet_exposed", "data_classification")
APPLICATION_FIELDS = (
    "name",
    "description",
    "repo_url",
    "criticality",
    "internet_exposed",
    "data_classification",
    "owners",
    "source_roots",
)


def _facts(application: Application, fields) -> dict:
    return {name: getattr(application, name) for name in ("name", *fields)}


def _audit(application: Application, actor: str, action: str, before, after) -> None:
    audit_record(
        tenant=application.tenant,
        actor=actor,
        action=action,
        target_type="findings.application",
        target_id=application.pk,
        before=before,
        after=after,
    )


def _save(
    application: Application,
    update_fields: list[str] | None = None,
    *,
    actor: str,
    before: dict | None = None,
) -> Application:
    try:
        with transaction.atomic():
            application.save(update_fields=update_fields)
            changed = [f for f in (update_fields or APPLICATION_FIELDS) if f != "updated_at"]
            action = "application.create" if update_fields is None else "application.update"
            after = _facts(application, changed)
            _audit(application, actor, action, before, after)
            moved = [f for f in RISK_CONTEXT if before and f in before and before[f] != after[f]]
            if moved:  # the findings' risk weighs these: the pipeline re-scores them
                events.emit(
                    topic=APPLICATION_CONTEXT_CHANGED,
                    tenant_id=application.tenant_id,
                    payload={"application_id": application.pk, "fields": moved},
                )
    except IntegrityError:
        raise Conflict(
            f"An application named {application.name!r} already exists.",
            code="conflict",
            details={"name": ["must be unique within the tenant"]},
        ) from None
    return application


def application_create(
    *, tenant: Tenant, name: str, actor: str = "system", **fields: Any
) -> Application:
    """Create an application in `tenant`; 409 if the name is taken."""
    unknown = set(fields) - set(APPLICATION_FIELDS)
    if unknown:
        raise TypeError(f"unknown application fields: {sorted(unknown)}")
    if "source_roots" in fields:
        fields["source_roots"] = source_roots_clean(fields["source_roots"])
    return _save(Application(tenant=tenant, name=name, **fields), actor=actor)


def application_update(
    *, application: Application, actor: str = "system", **fields: Any
) -> Application:
    """Change the given fields of an application (others untouched)."""
    unknown = set(fields) - set(APPLICATION_FIELDS)
    if unknown:
        raise TypeError(f"unknown application fields: {sorted(unknown)}")
    if "source_roots" in fields:
        fields["source_roots"] = source_roots_clean(fields["source_roots"])
    before = _facts(application, fields)
    for name, value in fields.items():
        setattr(application, name, value)
    return _save(application, update_fields=[*fields, "updated_at"], actor=actor, before=before)


def source_roots_clean(roots: Any) -> list[str]:
    """An application's source roots as stored: validated (Invalid otherwise), trimmed,
    forward slashes, no trailing "/", each once, in the order given."""
    try:
        validate_source_roots(roots)
    except ValidationError as exc:
        raise Invalid(
            exc.messages[0], code="invalid", details={"source_roots": exc.messages}
        ) from None
    cleaned: list[str] = []
    for root in roots:
        text = root.strip().replace("\\", "/")
        text = text if text in ("/", "file:///") else text.rstrip("/")
        if text not in cleaned:
            cleaned.append(text)
    return cleaned


def application_delete(*, application: Application, actor: str = "system") -> None:
    """Delete an application and everything that belongs to it; 409 `delete_blocked` naming
    the decisions (and anything else that must outlive it) that keep it."""
    pk, facts = application.pk, {"name": application.name}
    with transaction.atomic():
        delete_or_conflict(application, label=f"Application {application.name!r}")
        application.pk = pk
        _audit(application, actor, "application.delete", facts, None)


# --- Scans -------------------------------------------------------------------------------------


def source_root_clean(text: str) -> str:
    """An upload's source_root as stored: "" or a valid absolute directory (Invalid
    otherwise), trimmed, forward slashes."""
    if not text.strip():
        return ""
    problem = source_root_problem(text)
    if problem:
        raise Invalid(f"source_root {problem}.", code="invalid", details={"source_root": [problem]})
    return text.strip().replace("\\", "/")


def application_resolve(
    *,
    tenant: Tenant,
    ref: str,
    create: bool,
    actor: str = "system",
    create_requires: dict[str, str] | None = None,
) -> Application:
    """The application named `ref`, else the one whose id is `ref`; created on first use
    when `create`, but never from a numeric ref (a mistyped id must not become a new
    application named "42"). The upload flow calls this inside its transaction, after the
    report's format is known, so a refused upload leaves no application behind.
    `create_requires` ({"role": ...} or {"scope": ...}) is what the caller lacks to create
    one, when that is why `create` is False; the refusal names it."""
    application = application_find(tenant=tenant, ref=ref)
    if application is not None:
        return application
    name = ref.strip()
    if name.isascii() and name.isdigit():
        raise NotFound(
            f"No application is named {name!r} or has the id {name}. An upload does not create "
            "an application from a number: use the application's name, or create it first "
            "(POST /api/v1/applications/).",
            code="unknown_application",
        )
    if not create and create_requires:
        (kind, needed), *_ = create_requires.items()
        raise NotFound(
            f"No application {ref!r}; creating one needs the {needed} {kind}.",
            code="unknown_application",
            details={"application": ref, "required": create_requires},
        )
    if not create:
        raise NotFound(
            f"No application {ref!r} in this tenant; create it first "
            "(POST /api/v1/applications/) or upload a scan for it.",
            code="unknown_application",
            details={"application": ref},
        )
    try:
        return application_create(tenant=tenant, name=name, actor=actor)
    except Conflict:
        # Created concurrently by another upload that has committed since: use theirs.
        found = application_find(tenant=tenant, ref=ref)
        if found is None:
            raise
        return found


def scan_replay_of(
    *, application: Application, branch: str, sha256: str, target: str = "", fmt: str = ""
) -> Scan | None:
    """The scan to answer with when these bytes were already imported and are still the
    latest report of their stream (application, tool, branch, target). Re-sending a CI job's
    report changes nothing; the same bytes after a newer report of that stream (A, B, A) are
    imported again, because they change the state back. A report of another target between
    them (image A, image B, image A) is another stream: A is still current. `target` is the
    caller's; without one, the same bytes name the same target, so any earlier scan of them
    is of their stream. The same bytes read as another `fmt` (a forced format=) are another
    report, not a replay."""
    candidates = Scan.objects.filter(application=application, branch=branch, sha256=sha256)
    if fmt:
        candidates = candidates.filter(format=fmt)
    if target:
        candidates = candidates.filter(target=target)
    candidate = candidates.exclude(status=ScanStatus.FAILED).order_by("-id").first()
    if candidate is None:
        return None
    newer = Scan.objects.filter(
        application=application,
        branch=branch,
        tool_name=candidate.tool_name,
        target=candidate.target,
        id__gt=candidate.pk,
    ).exclude(status=ScanStatus.FAILED)
    return None if newer.exists() else candidate


def application_lock(application: Application) -> None:
    """Serialise imports per application (caller holds the transaction; apps/findings/locks.py)."""
    applications_lock([application.pk])


def _audit_scan(scan: Scan, action: str, after: dict) -> None:
    # One row per import, with counts, never one per finding: imports stay bulk.
    audit_record(
        tenant=scan.tenant,
        actor=scan.uploaded_by or "system",
        action=action,
        target_type="findings.scan",
        target_id=scan.pk,
        before=None,
        after={
            "application": scan.application_id,
            "format": scan.format,
            "tool": scan.tool_name,
            "branch": scan.branch,
            "target": scan.target,
            **after,
        },
    )


def scan_start(*, scan: Scan) -> None:
    """Mark a scan as being imported (saves a new scan)."""
    scan.status = ScanStatus.PROCESSING
    if scan.pk is None:
        scan.save()
    else:
        Scan.objects.filter(pk=scan.pk).update(status=ScanStatus.PROCESSING, progress=10)


def scan_finish(*, scan: Scan, outcome: Outcome) -> Scan:
    """Record what an import did and mark the scan done."""
    scan.tool_name = outcome.tool_name[:100]
    scan.tool_version = outcome.tool_version[:100]
    scan.target = outcome.target
    scan.counts = outcome.counts
    scan.noise = outcome.noise
    scan.skipped = outcome.skipped[:SKIPPED_KEPT]
    scan.content_digest = outcome.content_digest
    scan.status = ScanStatus.DONE
    scan.progress = 100
    scan.finished_at = timezone.now()
    scan.save(
        update_fields=[
            "tool_name",
            "tool_version",
            "target",
            "counts",
            "noise",
            "skipped",
            "content_digest",
            "status",
            "progress",
            "finished_at",
        ]
    )
    _audit_scan(scan, "scan.import", {"status": scan.status, "counts": scan.counts})
    return scan


def parse_error_details(exc: ParseError) -> dict:
    """The error body's details (also stored on a failed queued scan, so storable text)."""
    details = {
        "format": exc.format,
        "pointer": clean_text(exc.pointer)[0],
        "reason": clean_text(exc.message)[0],
    }
    if isinstance(exc, TooDeep):
        details["limit"] = exc.limit
    return details


def parse_error_code(exc: ParseError) -> str:
    """The stable error code of a report that cannot be imported."""
    return "too_deep" if isinstance(exc, TooDeep) else "invalid_report"


def invalid_report_message(exc: ParseError) -> str:
    """What the upload's 400 (or a queued scan's error) says about a report that is not valid."""
    return f"The {exc.format} report is not valid: {exc.message}"


def upload_digest(upload: UploadedFile) -> tuple[str, int, bytes]:
    """(sha256, size, head bytes for detection) of an upload; refuses empty and oversized."""
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


def parser_for(fmt: str, head: bytes, *, paths: PathContext = NO_PATHS) -> Parser:
    """The parser named by `fmt`, or the one whose format the head bytes show; `paths` is
    how it resolves absolute paths (the upload's source_root, the application's roots). An
    unknown report's error lists `candidates`: each format and why its detector declined."""
    try:
        return get_parser(fmt, paths=paths) if fmt else detect_parser(head, paths=paths)
    except ParseError as exc:
        details = parse_error_details(exc)
        if isinstance(exc, UnknownFormat):
            details["candidates"] = exc.candidates
        raise Invalid(exc.message, code="unknown_format", details=details) from None


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
    with transaction.atomic():
        locked = Finding.objects.select_for_update().get(pk=finding.pk, tenant_id=tenant.pk)
        try:
            check_transition(locked.status, to_status)
        except TransitionError as exc:
            raise Conflict(str(exc), code="invalid_transition") from None
        previous = locked.status
        # A person acted: one audit row for this finding, not the writer's batch row.
        writer = FindingWriter(cause="", actor=actor, now=timezone.now(), audit=False)
        columns: dict = {"updated_at": writer.now}
        if to_status == FindingStatus.FIXED:
            columns["closed_at"] = writer.now
        elif to_status in ACTIVE:
            columns["closed_at"] = None
        writer.set_status(
            [(locked.pk, previous)], to_status, reason=reason, tenant_id=tenant.pk, **columns
        )
        comment = f"FixOps: {previous} -> {to_status} by {actor}" + (
            f": {reason}" if reason else ""
        )
        writer.finish(comment=comment[:2000])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="finding.status",
            target_type="findings.finding",
            target_id=locked.pk,
            before={"status": previous},
            after={"status": to_status, "reason": reason},
        )
        locked.refresh_from_db()
    return locked
