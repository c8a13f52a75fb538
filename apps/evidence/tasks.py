"""Evidence tasks (thin wrappers over services)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="fixops.evidence.audit_checkpoint", ignore_result=True)
def audit_checkpoint_task() -> int:
    """Sign the head of every audit chain that grew since its last checkpoint."""
    from apps.evidence.audit import audit_checkpoint_all

    return audit_checkpoint_all()
