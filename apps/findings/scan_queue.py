"""The queue of large uploads: a stored report per scan, a lease per import, a sweeper.

- Store: a report above FIXOPS_INGEST_ASYNC_BYTES is written to its own file,
  `<FIXOPS_UPLOAD_DIR>/<tenant id>/scan-<scan id>.report` (a temporary file renamed into
  place, so a reader never sees half a report). No other scan reads or deletes it, whatever
  its bytes: the same report queued for two branches is two files.
- Claim: a worker takes a queued scan by writing its owner token and a lease expiry
  (FIXOPS_SCAN_LEASE_SECONDS) in one conditional UPDATE; a second delivery of the task while
  the lease is live finds nothing to take. A heartbeat renews the lease during the import.
- Settle: just before the import commits, the worker locks the row and checks it still owns
  it (`scan_settle`): a worker whose lease was taken over rolls back instead of writing a
  second copy of the findings. The stored report is deleted after that commit.
- Fail: any error of the import marks the scan failed with `{code, message, ...}` in a
  transaction of its own, after the import's has rolled back (nothing half-stored) — except
  losing the database mid-import (a restart, a failover), which releases the scan back to the
  queue (`scan_release`) for the task to retry: the report is not at fault.
- Sweep: a scan queued longer than FIXOPS_SCAN_STUCK_SECONDS (its broker message lost), or
  processing with an expired lease (its worker died), is re-queued up to MAX_REQUEUES times,
  then failed; one whose stored report is gone fails at once. The pipeline enqueues the task.
  Stored reports no unfinished scan refers to (an upload rolled back after its file was
  written, a crash mid-write) are deleted once as old as FIXOPS_SCAN_STUCK_SECONDS.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Count, F, Min, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.findings.models import Scan, ScanStatus
from fixops.platform.audit import audit_record

MAX_REQUEUES = 3
WORKER = "system:worker"
SWEEPER = "system:scan-sweeper"
_HOST = socket.gethostname()[:30]


class LeaseLost(Exception):  # noqa: N818 - a condition, not an error to show anyone
    """The worker no longer owns the scan (its lease expired and another worker took it)."""


def lease_owner_token() -> str:
    """A lease owner unique to one processing attempt: host, process and a random tag."""
    return f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:10]}"


def upload_path(scan: Scan) -> Path:
    """Where a queued scan's report waits: one file per scan, never shared."""
    return Path(settings.FIXOPS_UPLOAD_DIR) / str(scan.tenant_id) / f"scan-{scan.pk}.report"


def _lease_expiry():
    return timezone.now() + timedelta(seconds=settings.FIXOPS_SCAN_LEASE_SECONDS)


def scan_queue(*, scan: Scan, upload: UploadedFile) -> Scan:
    """Save a new scan as queued and store its upload in its own file (atomically)."""
    with transaction.atomic():
        scan.status = ScanStatus.QUEUED
        scan.queued_at = timezone.now()
        scan.save()
        target = upload_path(scan)
        target.parent.mkdir(parents=True, exist_ok=True)
        upload.seek(0)
        # Same directory, so the rename is atomic; a crash leaves only a dot-file.
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(handle, "wb") as out:
                for chunk in upload.chunks(1024 * 1024):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        scan.upload = str(target)
        scan.save(update_fields=["upload"])
        audit_record(
            tenant=scan.tenant,
            actor=scan.uploaded_by or WORKER,
            action="scan.queue",
            target_type="findings.scan",
            target_id=scan.pk,
            before=None,
            after={
                "application": scan.application_id,
                "sha256": scan.sha256,
                "size_bytes": scan.size_bytes,
                "format": scan.format,
            },  # fmt: skip
        )
    return scan


def scan_claim(*, scan_id: int, owner: str) -> Scan | None:
    """Take a queued scan (or one whose lease expired) for `owner`; None when another worker
    holds a live lease or the scan is finished or gone."""
    now = timezone.now()
    claimable = Q(status=ScanStatus.QUEUED) | Q(
        Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True),
        status=ScanStatus.PROCESSING,
    )
    with transaction.atomic():
        taken = Scan.objects.filter(claimable, pk=scan_id).update(
            status=ScanStatus.PROCESSING,
            lease_owner=owner[:64],
            lease_expires_at=_lease_expiry(),
            progress=10,
        )
        if not taken:
            return None
        scan = Scan.objects.select_related("application", "tenant").get(pk=scan_id)
        audit_record(
            tenant=scan.tenant,
            actor=WORKER,
            action="scan.claim",
            target_type="findings.scan",
            target_id=scan.pk,
            before=None,
            after={"lease_owner": scan.lease_owner, "lease_expires_at": scan.lease_expires_at},
        )
    return scan


def scan_lease_renew(*, scan_id: int, owner: str) -> int:
    """Push the lease's expiry forward while `owner` still holds it (1), else 0. Lease
    bookkeeping, not a change of the scan: not audited (it runs every few seconds)."""
    return Scan.objects.filter(
        pk=scan_id, lease_owner=owner[:64], status=ScanStatus.PROCESSING
    ).update(lease_expires_at=_lease_expiry())


def scan_settle(*, scan_id: int, owner: str) -> None:
    """Inside the import's transaction, just before it records the scan done: raise
    LeaseLost unless `owner` still holds the scan (the row stays locked until commit, so no
    one can take it in between), then drop the lease and the stored report (the file is
    deleted once the import has committed)."""
    scan = (
        Scan.objects.select_for_update()
        .filter(pk=scan_id, lease_owner=owner[:64], status=ScanStatus.PROCESSING)
        .first()
    )
    if scan is None:
        raise LeaseLost(f"scan {scan_id} is no longer held by {owner}")
    Scan.objects.filter(pk=scan_id).update(upload="", lease_owner="", lease_expires_at=None)
    _delete_after_commit(scan.upload)


def scan_fail(*, scan_id: int, error: dict, owner: str | None, actor: str = WORKER) -> bool:
    """Mark an unfinished scan failed with `error` ({code, message, ...}) and delete its
    stored report; only while `owner` holds it (None: whoever does). False when the scan is
    finished or held by someone else. Runs in a transaction of its own, after the import's
    rolled back, so a failed scan has no finding."""
    with transaction.atomic():
        rows = Scan.objects.select_for_update().filter(
            pk=scan_id, status__in=[ScanStatus.QUEUED, ScanStatus.PROCESSING]
        )
        if owner is not None:
            rows = rows.filter(lease_owner=owner[:64])
        scan = rows.first()
        if scan is None:
            return False
        previous = scan.status
        Scan.objects.filter(pk=scan_id).update(
            status=ScanStatus.FAILED,
            error=error,
            finished_at=timezone.now(),
            upload="",
            lease_owner="",
            lease_expires_at=None,
        )
        _delete_after_commit(scan.upload)
        audit_record(
            tenant=scan.tenant,
            actor=actor,
            action="scan.fail",
            target_type="findings.scan",
            target_id=scan.pk,
            before={"status": previous},
            after={
                "status": ScanStatus.FAILED,
                "code": error.get("code", ""),
                "message": error.get("message", ""),
            },  # fmt: skip
        )
    return True


def scan_release(*, scan_id: int, owner: str) -> bool:
    """Put a scan `owner` holds back in the queue, its report kept: its import was interrupted
    by the database (restart, failover, a killed connection), not by the report. False when
    `owner` no longer holds it. Not counted as a re-queue: the report is not at fault."""
    with transaction.atomic():
        scan = (
            Scan.objects.select_for_update()
            .filter(pk=scan_id, lease_owner=owner[:64], status=ScanStatus.PROCESSING)
            .first()
        )
        if scan is None:
            return False
        Scan.objects.filter(pk=scan_id).update(
            status=ScanStatus.QUEUED,
            queued_at=timezone.now(),
            lease_owner="",
            lease_expires_at=None,
            progress=0,
        )
        audit_record(
            tenant=scan.tenant,
            actor=WORKER,
            action="scan.release",
            target_type="findings.scan",
            target_id=scan.pk,
            before={"status": ScanStatus.PROCESSING, "lease_owner": scan.lease_owner},
            after={"status": ScanStatus.QUEUED},
        )
    return True


def _delete_after_commit(path: str) -> None:
    if path:
        transaction.on_commit(lambda: Path(path).unlink(missing_ok=True))


# --- Sweeper -----------------------------------------------------------------------------------


def _stuck_q(now) -> Q:
    """Queued longer than FIXOPS_SCAN_STUCK_SECONDS, or processing under an expired lease (a
    scan processing with no lease at all predates leases: judged by its age)."""
    before = now - timedelta(seconds=settings.FIXOPS_SCAN_STUCK_SECONDS)
    waited_long = Q(queued_at__lt=before) | Q(queued_at__isnull=True, created_at__lt=before)
    return Q(waited_long, status=ScanStatus.QUEUED) | Q(
        Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True, created_at__lt=before),
        status=ScanStatus.PROCESSING,
    )


def uploads_purge_orphans() -> int:
    """Delete stored reports no unfinished scan refers to and untouched for
    FIXOPS_SCAN_STUCK_SECONDS: left by an upload whose transaction rolled back after the
    file was written, or by a crash mid-write (temporary files). Returns how many."""
    root = Path(settings.FIXOPS_UPLOAD_DIR)
    if not root.is_dir():
        return 0
    cutoff = time.time() - settings.FIXOPS_SCAN_STUCK_SECONDS
    old = [
        path
        for pattern in ("*/*.report", "*/.*.report.*")
        for path in root.glob(pattern)
        if path.is_file() and path.stat().st_mtime < cutoff
    ]
    if not old:
        return 0
    wanted = set(
        Scan.objects.filter(
            upload__in=[str(path) for path in old],
            status__in=[ScanStatus.QUEUED, ScanStatus.PROCESSING],
        ).values_list("upload", flat=True)
    )
    purged = 0
    for path in old:
        if str(path) not in wanted:
            path.unlink(missing_ok=True)
            purged += 1
    return purged


def queue_gauges() -> dict:
    """Across tenants, for /metrics: unfinished scans per status and when the oldest queued
    one was queued (through the partial index on unfinished scans)."""
    unfinished = [ScanStatus.QUEUED, ScanStatus.PROCESSING]
    rows = (
        Scan.objects.filter(status__in=unfinished)
        .values_list("status")
        .annotate(n=Count("id"), oldest=Min(Coalesce("queued_at", "created_at")))
        .order_by()
    )
    counts = {status.value: 0 for status in unfinished}
    oldest = None
    for status, n, first in rows:
        counts[status] = n
        if status == ScanStatus.QUEUED:
            oldest = first
    return {"counts": counts, "oldest_queued": oldest}


def scans_stuck(*, limit: int = 500) -> list[int]:
    """Ids of the scans the sweeper should look at, oldest first."""
    stuck = Scan.objects.filter(_stuck_q(timezone.now())).order_by("id")
    return list(stuck.values_list("id", flat=True)[:limit])


def scan_requeue(*, scan_id: int) -> str:
    """One stuck scan: "requeued" (the caller enqueues its task), "failed" (its report is
    gone, or it was re-queued MAX_REQUEUES times already) or "" (no longer stuck, or being
    looked at by another sweeper)."""
    with transaction.atomic():
        scan = (
            Scan.objects.select_for_update(skip_locked=True)
            .filter(_stuck_q(timezone.now()), pk=scan_id)
            .first()
        )
        if scan is None:
            return ""
        if not scan.upload or not Path(scan.upload).is_file():
            error = {
                "code": "upload_missing",
                "message": "The stored report of this queued scan is gone (deleted, or "
                "FIXOPS_UPLOAD_DIR is not shared by the web and worker hosts); upload it again.",
            }
            scan_fail(scan_id=scan.pk, error=error, owner=None, actor=SWEEPER)
            return "failed"
        if scan.requeues >= MAX_REQUEUES:
            error = {
                "code": "scan_stuck",
                "message": f"No worker finished importing this scan: it was re-queued "
                f"{scan.requeues} times after waiting or running without a live worker for "
                f"{settings.FIXOPS_SCAN_STUCK_SECONDS} s (a worker killed by this report, or no "
                "worker consuming the queue). Upload it again; if it fails again, see the "
                "workers' logs.",
                "requeues": scan.requeues,
            }
            scan_fail(scan_id=scan.pk, error=error, owner=None, actor=SWEEPER)
            return "failed"
        before = {"status": scan.status, "lease_owner": scan.lease_owner}
        Scan.objects.filter(pk=scan.pk).update(
            status=ScanStatus.QUEUED,
            queued_at=timezone.now(),
            requeues=F("requeues") + 1,
            lease_owner="",
            lease_expires_at=None,
            progress=0,
        )
        audit_record(
            tenant=scan.tenant,
            actor=SWEEPER,
            action="scan.requeue",
            target_type="findings.scan",
            target_id=scan.pk,
            before=before,
            after={"status": ScanStatus.QUEUED, "requeues": scan.requeues + 1},
        )
    return "requeued"
