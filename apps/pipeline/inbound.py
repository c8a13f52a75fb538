"""What the inbound half of an integration asks of the layers it may not import itself.

apps/connectors/inbound/apply.py emits `connectors.acceptance_wanted` when a ticket is closed
as won't-do (or a chat button asks for it); the request is written here, after commit, through
the acceptance service, which reads the tenant's policy settings.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.findings.lifecycle import ACTIVE
from apps.findings.models import Finding
from apps.policies.acceptances import acceptance_request
from apps.policies.inputs import settings_for
from apps.policies.models import AcceptanceScope, AcceptanceStatus, RiskAcceptance
from apps.tenants.models import Tenant
from fixops.platform.errors import DomainError

logger = logging.getLogger(__name__)


def acceptance_from_ticket(*, tenant_id: int, payload: dict) -> RiskAcceptance | None:
    """Request a risk acceptance of one finding for an approver, unless the finding no longer
    needs work or a request is pending already (the event may be handled twice); its expiry is
    the integration's `acceptance_days`, capped by the tenant's policy."""
    with transaction.atomic():
        finding = (
            Finding.objects.select_for_update()
            .filter(pk=payload["finding_id"], tenant_id=tenant_id)
            .first()
        )
        if finding is None or finding.status not in ACTIVE:
            return None
        pending = RiskAcceptance.objects.filter(
            tenant_id=tenant_id, finding=finding, status=AcceptanceStatus.REQUESTED
        )
        if pending.exists():
            return None
        tenant = Tenant.objects.get(pk=tenant_id)
        now = timezone.now()
        days = min(int(payload.get("days") or 90), settings_for(tenant).max_acceptance_days)
        try:
            return acceptance_request(
                tenant=tenant,
                user=None,
                actor=payload["actor"],
                scope=AcceptanceScope.FINDING,
                justification=payload["justification"],
                expires_at=now + timedelta(days=days),
                finding=finding,
                now=now,
            )
        except DomainError as exc:  # refused by policy: retrying would not help
            logger.warning("acceptance for finding %s not requested: %s", finding.pk, exc)
            return None
