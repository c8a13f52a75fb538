"""Retention: each tenant's policy applied to the data of every layer, in batches, then one
audit row per tenant with what went (docs/operations.md, "Retention"). The audit log and
evidence are never touched here: they have their own retention (evidence) or none (audit)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from apps.connectors.retention import attempts_purge, inbox_purge
from apps.findings.retention import closed_occurrences_purge, scan_details_purge
from apps.intel.retention import intel_events_purge
from apps.tenants.models import Tenant
from apps.tenants.retention import retention_for, sessions_purge
from fixops.platform.audit import audit_record

logger = logging.getLogger(__name__)

# policy field -> the purge of the data it governs
PURGES: dict[str, Callable[..., int]] = {
    "scan_details_days": scan_details_purge,
    "closed_occurrences_days": closed_occurrences_purge,
    "outbox_attempts_days": attempts_purge,
    "intel_events_days": intel_events_purge,
    "inbox_deliveries_days": inbox_purge,
}


def retention_apply(*, now: datetime | None = None, batch: int = 5000) -> dict[str, dict]:
    """Apply every tenant's retention; returns {tenant slug: {field: rows}} for those that
    purged anything (and "_sessions" for expired sessions)."""
    now = now or timezone.now()
    report: dict[str, dict] = {}
    for tenant in Tenant.objects.order_by("pk"):
        policy = retention_for(tenant.pk)
        purged = {}
        for name, purge in PURGES.items():
            days = getattr(policy, name)
            if days:
                purged[name] = purge(
                    tenant_id=tenant.pk, before=now - timedelta(days=days), batch=batch
                )
        if any(purged.values()):
            with transaction.atomic():
                audit_record(
                    tenant=tenant,
                    actor="system:retention",
                    action="retention.purge",
                    target_type="tenants.retentionpolicy",
                    target_id=policy.pk,
                    before=None,
                    after={"purged": purged, "policy": {n: getattr(policy, n) for n in PURGES}},
                )
            report[tenant.slug] = purged
            logger.info("retention for %s: %s", tenant.slug, purged)
    sessions = sessions_purge(now=now, batch=batch)
    if sessions:
        report["_sessions"] = {"expired_sessions": sessions}
    return report
