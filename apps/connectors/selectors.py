"""Reads for integrations and the outbox; the tenant always comes first."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from apps.connectors.delivery import finding_reference
from apps.connectors.models import (
    DeliveryStatus,
    ExternalLink,
    Grouping,
    InboundDelivery,
    Integration,
    MessageStatus,
    NotificationRule,
    OutboxAttempt,
    OutboxMessage,
)
from apps.connectors.registry import TRACKER_KINDS
from apps.findings.models import Finding
from apps.tenants.models import Tenant
from apps.tenants.scoping import get_scoped_or_404


def integration_list(*, tenant: Tenant, filters: dict[str, Any] | None = None) -> QuerySet:
    """Integrations of `tenant`, by name; filter by kind and enabled."""
    filters = filters or {}
    qs = Integration.objects.for_tenant(tenant)
    if filters.get("kind"):
        qs = qs.filter(kind=filters["kind"])
    if filters.get("enabled") is not None:
        qs = qs.filter(enabled=filters["enabled"])
    return qs.order_by("name", "id")


def integration_get(*, tenant: Tenant, integration_id: int) -> Integration:
    """One integration of `tenant`; NotFound whether missing or another tenant's."""
    return get_scoped_or_404(Integration.objects.all(), tenant=tenant, pk=integration_id)


def queue_depths(integration_ids: list[int]) -> dict[int, dict[str, int]]:
    """Messages per status for each integration (one grouped query)."""
    depths: dict[int, dict[str, int]] = {
        pk: {s: 0 for s in MessageStatus.values} for pk in integration_ids
    }
    rows = (
        OutboxMessage.objects.filter(integration_id__in=integration_ids)
        .exclude(status=MessageStatus.DELIVERED)
        .values_list("integration_id", "status")
        .annotate(n=Count("id"))
    )
    for integration_id, status, n in rows:
        depths[integration_id][status] = n
    return depths


def outbox_gauges() -> dict:
    """Across tenants, for /metrics: unfinished messages per status, the oldest pending
    message's creation time, and each integration's breaker state (delivered rows, the bulk
    of the table, are never counted)."""
    unfinished = [s for s in MessageStatus.values if s != MessageStatus.DELIVERED]
    rows = (
        OutboxMessage.objects.filter(status__in=unfinished)
        .values_list("status")
        .annotate(n=Count("id"), oldest=Min("created_at"))
        .order_by()
    )
    by_status = {s: (0, None) for s in unfinished}
    for status, n, oldest in rows:
        by_status[status] = (n, oldest)
    breakers = list(Integration.objects.values_list("pk", "kind", "breaker_state").order_by("pk"))
    return {"messages": by_status, "breakers": breakers}


def inbox_gauges() -> dict:
    """Across tenants, for /metrics: inbox deliveries not yet applied (pending, processing)
    and failed ones, by status, with the oldest pending delivery's receipt time (applied and
    ignored rows, the bulk of the table, are never counted)."""
    watched = [DeliveryStatus.PENDING, DeliveryStatus.PROCESSING, DeliveryStatus.FAILED]
    rows = (
        InboundDelivery.objects.filter(status__in=watched)
        .values_list("status")
        .annotate(n=Count("id"), oldest=Min("received_at"))
        .order_by()
    )
    by_status = {str(s): (0, None) for s in watched}
    for status, n, oldest in rows:
        by_status[status] = (n, oldest)
    return by_status


def integration_health(integration: Integration, depth: dict[str, int] | None = None) -> dict:
    """What operators look at: breaker, last success / failure, queue depth."""
    if depth is None:
        depth = queue_depths([integration.pk])[integration.pk]
    return {
        "breaker_state": integration.breaker_state,
        "breaker_failures": integration.breaker_failures,
        "breaker_until": integration.breaker_until,
        "last_success_at": integration.last_success_at,
        "last_failure_at": integration.last_failure_at,
        "last_error": integration.last_error,
        "queue": {
            "pending": depth.get(MessageStatus.PENDING, 0),
            "in_flight": depth.get(MessageStatus.IN_FLIGHT, 0),
            "failed": depth.get(MessageStatus.FAILED, 0),
            "dead": depth.get(MessageStatus.DEAD, 0),
        },
    }


def message_list(*, tenant: Tenant, filters: dict[str, Any] | None = None) -> QuerySet:
    """Outbox messages of `tenant`, newest first; filter by status, integration, kind,
    reference and age (older than N seconds)."""
    filters = filters or {}
    qs = OutboxMessage.objects.for_tenant(tenant).select_related("integration")
    if filters.get("status"):
        qs = qs.filter(status__in=filters["status"])
    for field in ("integration", "kind", "reference"):
        if filters.get(field):
            qs = qs.filter(**{field: filters[field]})
    if filters.get("older_than"):
        qs = qs.filter(created_at__lt=timezone.now() - timedelta(seconds=filters["older_than"]))
    return qs.defer("payload")


def message_get(*, tenant: Tenant, message_id: int) -> OutboxMessage:
    """One message of `tenant`; NotFound otherwise."""
    return get_scoped_or_404(
        OutboxMessage.objects.select_related("integration"), tenant=tenant, pk=message_id
    )


def attempt_list(*, message: OutboxMessage) -> QuerySet:
    """The attempts of one message, first first."""
    return OutboxAttempt.objects.filter(message=message).order_by("number", "id")


def finding_links(*, tenant: Tenant, findings: list[Finding]) -> dict[int, list[ExternalLink]]:
    """The tickets covering each of `findings` (finding id -> links, newest first): its own
    ticket (one per finding) and the grouped tickets of its rule or component, by the
    references the tickets were opened under. Two queries whatever the number of findings
    (a changelist page)."""
    if not findings:
        return {}
    trackers = list(
        Integration.objects.for_tenant(tenant)
        .filter(kind__in=TRACKER_KINDS)
        .exclude(grouping=Grouping.FINDING)
        .only("id", "grouping")
    )
    wanted: dict[tuple[int, str], list[int]] = {}
    for integration in trackers:
        for f in findings:
            row = {
                "id": f.pk,
                "application_id": f.application_id,
                "rule_id": f.rule_id,
                "component_purl": f.component_purl,
                "component_name": f.component_name,
                "path": f.path,
            }
            key = (integration.pk, finding_reference(integration.grouping, row))
            wanted.setdefault(key, []).append(f.pk)
    match = Q(finding_id__in=[f.pk for f in findings])
    for integration_id, reference in wanted:
        match |= Q(integration_id=integration_id, reference=reference)
    links = (
        ExternalLink.objects.for_tenant(tenant)
        .filter(match)
        .select_related("integration")
        .order_by("-id")
    )
    out: dict[int, list[ExternalLink]] = {}
    for link in links:
        owners = [link.finding_id] if link.finding_id else []
        owners += wanted.get((link.integration_id, link.reference), [])
        for finding_id in dict.fromkeys(owners):
            out.setdefault(finding_id, []).append(link)
    return out


# --- notification rules ---------------------------------------------------------------------


def notification_rule_list(*, tenant: Tenant, filters: dict[str, Any] | None = None) -> QuerySet:
    """Notification rules of `tenant`, by name; filter by integration and enabled."""
    filters = filters or {}
    qs = NotificationRule.objects.for_tenant(tenant).select_related("integration")
    if filters.get("integration"):
        qs = qs.filter(integration_id=filters["integration"])
    if filters.get("enabled") is not None:
        qs = qs.filter(enabled=filters["enabled"])
    return qs.order_by("name", "id")


def notification_rule_get(*, tenant: Tenant, rule_id: int) -> NotificationRule:
    """One rule of `tenant`; NotFound whether missing or another tenant's."""
    return get_scoped_or_404(
        NotificationRule.objects.select_related("integration"), tenant=tenant, pk=rule_id
    )
