"""Retention of the findings layer's operational history (run by apps/pipeline/retention.py):
scans' lists of unreadable results, and the occurrences of findings closed long ago. Counts,
findings and their status history stay."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from apps.findings.lifecycle import CLOSED
from apps.findings.models import Finding, Occurrence, Scan
from fixops.platform import bulk


def scan_details_purge(*, tenant_id: int, before: datetime, batch: int = 5000) -> int:
    """Empty the `skipped` lists of scans created before `before` (their counts stay, so
    what was lost is still counted); returns how many scans were emptied."""
    total = 0
    stale = Scan.objects.filter(tenant_id=tenant_id, created_at__lt=before).exclude(skipped=[])
    while True:
        with transaction.atomic():
            ids = list(stale.order_by().values_list("pk", flat=True)[:batch])
            bulk.update_by_ids(Scan, ids, skipped=[])
        total += len(ids)
        if len(ids) < batch:
            return total


def closed_occurrences_purge(*, tenant_id: int, before: datetime, batch: int = 5000) -> int:
    """Delete the retracted occurrences of findings closed before `before` (a finding that
    comes back gets a new occurrence from the scan that reports it). A live one stays: a
    stream still reports it, and a repeat of that stream's scan reopens the finding by it
    (apps/findings/repeat.py)."""
    closed = Finding.objects.filter(
        tenant_id=tenant_id, status__in=sorted(CLOSED), closed_at__lt=before
    ).values("pk")
    return bulk.delete_in_batches(
        Occurrence.objects.filter(
            tenant_id=tenant_id, finding_id__in=closed, retracted_at__isnull=False
        ),
        batch=batch,
    )
