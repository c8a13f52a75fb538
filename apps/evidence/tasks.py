"""Evidence tasks (thin wrappers over services)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="fixops.evidence.audit_checkpoint", ignore_result=True)
def audit_checkpoint_task() -> int:
    """Sign the head of every audit chain that grew since its last checkpoint."""
    from apps.evidence.checkpoints import audit_checkpoint_all

    return audit_checkpoint_all()


@shared_task(
    name="fixops.evidence.store_bundle",
    bind=True,
    acks_late=True,
    max_retries=5,
    ignore_result=True,
)
def bundle_store_task(self, *, bundle_id: int) -> bool:
    """Store a pending bundle's object after its decision committed; a stored or missing
    bundle is a no-op, and a store that is down is retried (then left to the beat task)."""
    from apps.evidence.services import bundle_store
    from apps.evidence.storage import StorageError

    try:
        return bundle_store(bundle_id=bundle_id)
    except StorageError as exc:
        raise self.retry(exc=exc, countdown=min(300, 10 * 2**self.request.retries)) from exc


@shared_task(name="fixops.evidence.store_pending", acks_late=True, ignore_result=True)
def bundles_store_pending_task() -> int:
    """Store every bundle still pending (its after-commit task was lost or failed)."""
    from apps.evidence.services import bundles_store_pending

    return bundles_store_pending()
