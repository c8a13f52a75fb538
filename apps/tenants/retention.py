"""A tenant's retention policy (apps/tenants/models.py RetentionPolicy) and the sessions
purge; the purges themselves live with the data they remove and are run by
apps/pipeline/retention.py."""

from __future__ import annotations

from datetime import datetime

from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from apps.tenants.models import RetentionPolicy, Tenant
from fixops.platform import bulk
from fixops.platform.audit import audit_record
from fixops.platform.errors import Invalid

RETENTION_FIELDS = (
    "scan_details_days",
    "closed_occurrences_days",
    "outbox_attempts_days",
    "intel_events_days",
    "inbox_deliveries_days",
)
MAX_DAYS = 3650


def retention_for(tenant_id: int) -> RetentionPolicy:
    """The tenant's policy, or the defaults (unsaved) when it has none."""
    return RetentionPolicy.objects.filter(tenant_id=tenant_id).first() or RetentionPolicy(
        tenant_id=tenant_id
    )


def retention_update(*, tenant: Tenant, actor: str, **values: int) -> RetentionPolicy:
    """Set some of the tenant's retention periods (days, 0 = forever), audited."""
    unknown = set(values) - set(RETENTION_FIELDS)
    if unknown:
        raise Invalid(f"unknown retention fields: {sorted(unknown)}", code="invalid_retention")
    for name, days in values.items():
        if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= MAX_DAYS:
            raise Invalid(
                f"{name} must be a number of days from 0 (keep forever) to {MAX_DAYS}",
                code="invalid_retention",
                details={"field": name},
            )
    with transaction.atomic():
        policy, _ = RetentionPolicy.objects.select_for_update().get_or_create(tenant=tenant)
        before = {name: getattr(policy, name) for name in RETENTION_FIELDS}
        for name, days in values.items():
            setattr(policy, name, days)
        policy.updated_at = timezone.now()
        policy.save()
        after = {name: getattr(policy, name) for name in RETENTION_FIELDS}
        audit_record(
            tenant=tenant,
            actor=actor,
            action="retention.update",
            target_type="tenants.retentionpolicy",
            target_id=policy.pk,
            before=before,
            after=after,
        )
    return policy


def sessions_purge(*, now: datetime, batch: int = 5000) -> int:
    """Expired sessions (every tenant's: sessions are global)."""
    return bulk.delete_in_batches(Session.objects.filter(expire_date__lt=now), batch=batch)
