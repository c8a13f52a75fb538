"""Reads of the advisory app, tenant first."""

from __future__ import annotations

from datetime import date

from django.db.models import QuerySet

from apps.advisory.models import AdvisorySettings, Provider, TokenUsage
from apps.findings.models import Finding
from apps.policies.models import Decision
from apps.tenants.models import Tenant
from apps.tenants.scoping import get_scoped_or_404


def provider_list(*, tenant: Tenant) -> QuerySet[Provider]:
    """Every provider of the tenant, by name."""
    return Provider.objects.for_tenant(tenant).order_by("name")


def provider_enabled_list(*, tenant: Tenant) -> QuerySet[Provider]:
    """The providers a question goes to."""
    return provider_list(tenant=tenant).filter(enabled=True)


def provider_get(*, tenant: Tenant, provider_id: object) -> Provider:
    """One provider of the tenant (NotFound otherwise)."""
    return get_scoped_or_404(Provider.objects.all(), tenant=tenant, pk=provider_id)


def settings_of(*, tenant: Tenant) -> AdvisorySettings:
    """The tenant's settings row, unsaved defaults when none was written yet."""
    row = AdvisorySettings.objects.for_tenant(tenant).first()
    return row or AdvisorySettings(tenant=tenant)


def usage_of(*, provider: Provider, day: date) -> TokenUsage | None:
    """The provider's usage on `day` (UTC), None before its first call that day."""
    return TokenUsage.objects.filter(
        tenant_id=provider.tenant_id, provider=provider, day=day
    ).first()


def usage_list(*, tenant: Tenant, since: date) -> QuerySet[TokenUsage]:
    """Usage rows of the tenant's providers from `since`, newest first."""
    return (
        TokenUsage.objects.for_tenant(tenant)
        .filter(day__gte=since)
        .select_related("provider")
        .order_by("-day", "provider__name")
    )


def findings_by_ids(*, tenant: Tenant, ids: list[int]) -> list[Finding]:
    """The tenant's findings among `ids` (a decision's drivers), by id."""
    return list(
        Finding.objects.for_tenant(tenant)
        .filter(pk__in=ids)
        .select_related("application")
        .order_by("pk")
    )


def decision_findings_ids(decision: Decision, *, limit: int) -> list[int]:
    """The finding ids a decision's reasons name, first `limit` in reason order."""
    ids: list[int] = []
    for reason in decision.reasons or []:
        for finding_id in reason.get("finding_ids", []) if isinstance(reason, dict) else []:
            if isinstance(finding_id, int) and finding_id not in ids:
                ids.append(finding_id)
    return ids[:limit]
