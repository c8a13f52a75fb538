"""The application lock: one writer of an application's findings at a time.

Imports, advisory matching and stream retirement each take it (caller holds the transaction)
before they read what they will change, so dedup and closure see a stable picture. It is
FOR NO KEY UPDATE: a second writer still waits, but rows that reference the application do
not. With FOR UPDATE, a decision holding the tenant's audit chain head deadlocked at COMMIT
(its deferred foreign-key check takes FOR KEY SHARE on the application) against an import
waiting for that head; the load test found it twice, through the import and through the
advisory match of an SBOM import (docs/operations.md, "Load test").
"""

from __future__ import annotations

from collections.abc import Iterable

from apps.findings.models import Application


def applications_lock(ids: Iterable[int]) -> None:
    """Lock the applications `ids`, in id order so two writers of several never deadlock."""
    wanted = sorted(set(ids))
    if wanted:
        locked = Application.objects.select_for_update(no_key=True).filter(id__in=wanted)
        list(locked.order_by("id").values_list("id", flat=True))
