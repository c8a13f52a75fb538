"""Reads for applications and findings; the tenant always comes first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from apps.findings import sla
from apps.findings.models import (
    Application,
    Finding,
    FindingComment,
    Occurrence,
    Scan,
    Stream,
)
from apps.tenants.models import Tenant
from apps.tenants.scoping import get_scoped_or_404

APPLICATION_ORDERINGS = ("name", "-name", "created_at", "-created_at", "criticality")


def application_list(
    *, tenant: Tenant, filters: dict[str, Any] | None = None
) -> QuerySet[Application]:
    """Applications of `tenant`, filtered by exact fields and a free-text `q`."""
    filters = filters or {}
    qs = Application.objects.for_tenant(tenant)
    for field in ("criticality", "internet_exposed", "data_classification"):
        if filters.get(field) is not None:
            qs = qs.filter(**{field: filters[field]})
    if filters.get("name"):
        qs = qs.filter(name=filters["name"])
    if filters.get("q"):
        qs = qs.filter(Q(name__icontains=filters["q"]) | Q(repo_url__icontains=filters["q"]))
    ordering = filters.get("ordering") or "name"
    return qs.order_by(ordering, "id")


def application_get(*, tenant: Tenant, application_id: int) -> Application:
    """One application of `tenant`; NotFound whether it is missing or another tenant's."""
    return get_scoped_or_404(Application.objects.all(), tenant=tenant, pk=application_id)


def application_find(*, tenant: Tenant, ref: str) -> Application | None:
    """The application of `tenant` whose name is `ref`, or whose id is `ref` if numeric."""
    qs = Application.objects.for_tenant(tenant)
    found = qs.filter(name=ref).first()
    digits = ref.strip()
    # ASCII digits only ("²".isdigit() is true), and no more than a bigint holds.
    if found is None and digits.isascii() and digits.isdigit() and len(digits) <= 18:
        found = qs.filter(pk=int(digits)).first()
    return found


def scan_list(*, tenant: Tenant, filters: dict[str, Any] | None = None) -> QuerySet[Scan]:
    """Scans of `tenant`, newest first; filter by application, status, format, branch, commit,
    target."""
    filters = filters or {}
    qs = Scan.objects.for_tenant(tenant).select_related("application")
    for field in ("application", "status", "format", "branch", "commit", "target"):
        if filters.get(field) not in (None, ""):
            qs = qs.filter(**{field: filters[field]})
    return qs.defer("skipped", "noise")


def scan_get(*, tenant: Tenant, scan_id: int) -> Scan:
    """One scan of `tenant`; NotFound otherwise."""
    return get_scoped_or_404(Scan.objects.select_related("application"), tenant=tenant, pk=scan_id)


FINDING_FILTERS = {
    "application": "application_id",
    "status": "status__in",
    "severity": "severity__in",
    "kind": "kind__in",
    "tool": "occurrences__tool",  # any tool that reports it, not only the first
    "cve": "vuln_id",
    "cwe": "cwe",
    "dedup_strategy": "dedup_strategy",
    "kev": "kev",
    "epss_min": "epss__gte",
    "risk_min": "risk_score__gte",
    "ssvc": "ssvc__in",
    "owner_user": "owner_user_id",
    "owner_username": "owner_user__username",
    "owner_team": "owner_team_id",
}


FINDING_RELATED = ("application", "owner_user", "owner_team")


def finding_list(*, tenant: Tenant, filters: dict[str, Any] | None = None) -> QuerySet[Finding]:
    """Findings of `tenant` filtered by the documented fields (lists mean any of), each
    annotated with its `sla_state`; `owner_none` keeps those without an owner, `sla` (a list
    of states) filters on the state."""
    filters = filters or {}
    qs = Finding.objects.for_tenant(tenant)
    for name, lookup in FINDING_FILTERS.items():
        value = filters.get(name)
        if value not in (None, "", []):  # kev=False is a filter too: only None means unset
            qs = qs.filter(**{lookup: value})
    if filters.get("owner_none"):
        qs = qs.filter(owner_user__isnull=True, owner_team__isnull=True)
    if filters.get("tool"):
        qs = qs.distinct()
    now = timezone.now()
    if filters.get("sla"):
        soon = sla.policy_for(tenant.pk).due_soon_days
        match = Q()
        for state in filters["sla"]:
            match |= sla.state_filter(state, now=now, due_soon_days=soon)
        qs = qs.filter(match)
    qs = sla.with_state(qs, tenant_id=tenant.pk, now=now)
    return qs.select_related(*FINDING_RELATED).defer("message", "cvss")


def finding_get(*, tenant: Tenant, finding_id: int) -> Finding:
    """One finding of `tenant` with its `sla_state`; NotFound otherwise."""
    qs = sla.with_state(Finding.objects.select_related(*FINDING_RELATED), tenant_id=tenant.pk)
    return get_scoped_or_404(qs, tenant=tenant, pk=finding_id)


def application_sla(*, tenant: Tenant, application: Application) -> dict[str, Any]:
    """SLA compliance of one application: its open findings by SLA state, percent on time."""
    findings = Finding.objects.for_tenant(tenant).filter(application=application)
    return {"application_id": application.pk, **sla.compliance(findings, tenant_id=tenant.pk)}


def comment_list(*, finding: Finding) -> QuerySet[FindingComment]:
    """The comment thread of `finding`, oldest first."""
    return FindingComment.objects.filter(tenant_id=finding.tenant_id, finding=finding).order_by(
        "id"
    )


def comment_get(*, finding: Finding, comment_id: int) -> FindingComment:
    """One comment on `finding` (of its tenant); NotFound otherwise."""
    return get_scoped_or_404(
        FindingComment.objects.filter(finding=finding),
        tenant=Tenant(pk=finding.tenant_id),
        pk=comment_id,
    )


def occurrence_list(*, finding: Finding) -> QuerySet[Occurrence]:
    """Who reports `finding` (one row per scan stream), live ones first."""
    return Occurrence.objects.filter(tenant_id=finding.tenant_id, finding=finding).order_by(
        "retracted_at", "tool", "branch", "target"
    )


STREAM_FILTERS = ("application", "tool", "branch", "target")


def stream_list(*, tenant: Tenant, filters: dict | None = None) -> QuerySet[Stream]:
    """Scan streams of `tenant`, most recently scanned first; exact filters."""
    filters = filters or {}
    qs = Stream.objects.for_tenant(tenant).select_related("application")
    for name in STREAM_FILTERS:
        if filters.get(name) is not None:
            qs = qs.filter(**{name: filters[name]})
    return qs


def open_occurrence_counts(streams: Iterable[Stream]) -> dict[int, int]:
    """Live occurrences per stream id, in one grouped query over the given streams."""
    streams = list(streams)
    if not streams:
        return {}
    match = Q()
    for s in streams:
        match |= Q(application_id=s.application_id, tool=s.tool, branch=s.branch, target=s.target)
    rows = (
        Occurrence.objects.filter(match, retracted_at__isnull=True)
        .values("application_id", "tool", "branch", "target")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_key = {(r["application_id"], r["tool"], r["branch"], r["target"]): r["n"] for r in rows}
    return {s.pk: by_key.get((s.application_id, s.tool, s.branch, s.target), 0) for s in streams}
