"""Deletes that a PROTECT or RESTRICT foreign key blocks answer a Conflict naming what blocks.

A decision keeps its application and policy version (the evidence proves them), evidence
keeps its decision: Django refuses those deletes with ProtectedError or RestrictedError. Left
alone that is a 500; here it becomes 409 `delete_blocked` with the blocking kinds and counts,
for the API, the admin and commands alike.
"""

from __future__ import annotations

from collections import Counter

from django.db import models, transaction
from django.db.models import ProtectedError, RestrictedError

from fixops.platform.errors import Conflict

CODE = "delete_blocked"


def delete_blocked(exc: ProtectedError | RestrictedError, *, label: str = "") -> Conflict:
    """The Conflict for a refused delete: which kinds of rows still need it, how many each."""
    blocking = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
    counts = Counter(row._meta.label_lower for row in blocking)
    names = {row._meta.label_lower: row._meta for row in blocking}
    kinds = [
        {
            "kind": label_lower,
            "name": str(names[label_lower].verbose_name_plural),
            "count": count,
        }
        for label_lower, count in sorted(counts.items())
    ]
    singular = {label_lower: str(meta.verbose_name) for label_lower, meta in names.items()}
    what = ", ".join(
        f"{kind['count']} {singular[kind['kind']] if kind['count'] == 1 else kind['name']}"
        for kind in kinds
    )
    subject = label or "This object"
    return Conflict(
        f"{subject} cannot be deleted while other records need it: {what} (kept for the "
        "evidence and history they belong to).",
        code=CODE,
        details={"blocked_by": kinds},
    )


def delete_or_conflict(instance: models.Model, *, label: str = "") -> None:
    """Delete `instance` (and its cascade) or raise Conflict naming what blocks it."""
    try:
        with transaction.atomic():
            instance.delete()
    except (ProtectedError, RestrictedError) as exc:
        raise delete_blocked(exc, label=label) from None
