"""Reads for applications and findings; the tenant always comes first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from apps.findings import sightings, sla
from apps.findings.models import (
    Application,
    Finding,
    FindingComment,
    FindingEvent,
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


# Filters over occurrences: any stream that reports the finding (not only the first tool),
# as EXISTS on occurrence_stream_uniq (finding, tool, branch, target): no DISTINCT, so a
# list ordered by risk still walks its index and stops at the page.
OCCURRENCE_FILTERS = ("tool", "branch", "target")

FINDING_RELATED = ("application", "owner_user", "owner_team")
LIST_DEFERRED = (
    "message",
    "cvss",
    "risk_explanation",
    "application__description",
    "application__owners",
    "application__source_roots",
)


def finding_filter(
    queryset: QuerySet[Finding], *, tenant: Tenant | None, filters: dict[str, Any], now=None
) -> QuerySet[Finding]:
    """`queryset` (findings of `tenant`) narrowed by the documented filters: FINDING_FILTERS
    (lists mean any of), OCCURRENCE_FILTERS, `owner_none`, `sla` (a list of states). Shared
    by the API list and the admin's triage filters; `tenant` is None only for a superuser's
    admin view across tenants (the queryset is scoped by the caller)."""
    tenant_id = tenant.pk if tenant is not None else None
    for name, lookup in FINDING_FILTERS.items():
        value = filters.get(name)
        if value not in (None, "", []):  # kev=False is a filter too: only None means unset
            queryset = queryset.filter(**{lookup: value})
    for name in OCCURRENCE_FILTERS:
        if filters.get(name) not in (None, ""):
            reported = Occurrence.objects.filter(finding_id=OuterRef("pk"), **{name: filters[name]})
            if tenant_id is not None:
                reported = reported.filter(tenant_id=tenant_id)
            queryset = queryset.filter(Exists(reported))
    if filters.get("owner_none"):
        queryset = queryset.filter(owner_user__isnull=True, owner_team__isnull=True)
    if filters.get("sla"):
        soon = sla.policy_for(tenant_id).due_soon_days
        now = now or timezone.now()
        match = Q()
        for state in filters["sla"]:
            match |= sla.state_filter(state, now=now, due_soon_days=soon)
        queryset = queryset.filter(match)
    return queryset


def finding_list(*, tenant: Tenant, filters: dict[str, Any] | None = None) -> QuerySet[Finding]:
    """Findings of `tenant` filtered by the documented fields (finding_filter), each
    annotated with its `sla_state`."""
    filters = filters or {}
    now = timezone.now()
    qs = Finding.objects.for_tenant(tenant)
    qs = finding_filter(qs, tenant=tenant, filters=filters, now=now)
    qs = sla.with_state(qs, tenant_id=tenant.pk, now=now)
    # Not in a list row: the long text, and the JSON a row would decode for nothing.
    return qs.select_related(*FINDING_RELATED).defer(*LIST_DEFERRED)


def occurrence_values(*, tenant: Tenant, field: str, limit: int = 15) -> list[str]:
    """Up to `limit` distinct tools, branches or targets of `tenant`'s scan streams, for a
    filter's choices (streams are few per application; the limit bounds a large tenant)."""
    if field not in OCCURRENCE_FILTERS:
        raise ValueError(field)
    rows = (
        Stream.objects.for_tenant(tenant)
        .exclude(**{field: ""})
        .order_by(field)
        .values_list(field, flat=True)
        .distinct()
    )
    return list(rows[:limit])


def finding_get(*, tenant: Tenant, finding_id: int) -> Finding:
    """One finding of `tenant` with its `sla_state` and latest sighting; NotFound otherwise."""
    qs = sla.with_state(Finding.objects.select_related(*FINDING_RELATED), tenant_id=tenant.pk)
    finding = get_scoped_or_404(qs, tenant=tenant, pk=finding_id)
    sightings.findings_seen([finding])
    return finding


def findings_sighted(findings: Iterable[Finding]) -> list[Finding]:
    """`findings` (a page) with the last_seen and last_scan of the repeated scans that saw
    them last (apps/findings/sightings.py): read them from here, not from the rows."""
    page = list(findings)
    sightings.findings_seen(page)
    return page


def findings_reported_by(*, application_id: int, scan_ids: Iterable[int]) -> set[int]:
    """Ids of the findings that scans of `scan_ids` reported as repeats, whose rows keep an
    earlier last_scan (apps/findings/sightings.py)."""
    return sightings.reported_by(application_id, scan_ids)


def occurrences_sighted(*, finding: Finding, limit: int | None = None) -> list[Occurrence]:
    """`occurrence_list` (up to `limit`), each with its latest sighting."""
    rows = list(occurrence_list(finding=finding)[:limit])
    sightings.occurrences_seen(rows)
    return rows


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


def finding_event_list(*, finding: Finding) -> QuerySet[FindingEvent]:
    """The status history of `finding`, newest first."""
    return FindingEvent.objects.filter(tenant_id=finding.tenant_id, finding=finding).order_by("-id")


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
