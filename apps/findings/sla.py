"""SLA: each finding's deadline (`due_at`), its state, and breach announcements.

One source of truth: the tenant's SlaPolicy gives days per severity, shortened by a KEV or
SSVC override (the strictest applicable deadline wins, so an override never gives a finding
more time); `due_at` = clock start (`sla_started_at`, else `first_seen`) + those days, stored
and indexed. The findings writer keeps it current (new findings, re-scoring, pause and resume
on risk acceptance), `sla_policy_update` after a policy change; all in bulk SQL. The gate
(apps/policies/inputs.py), the API and the admin read `due_at`; nothing recomputes deadlines.

States, for findings that still need work: on_time, due_soon (due within `due_soon_days`),
overdue, paused (risk accepted: the clock stops; when the acceptance ends it restarts in full
or resumes with the time left, per `restart_on_expiry`). Closed findings have no state.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.findings.lifecycle import ACTIVE
from apps.findings.models import Finding, FindingStatus, Severity, SlaPolicy, SlaState
from apps.findings.models.finding import SEVERITY_RANK
from apps.tenants.models import Tenant
from fixops.platform import bulk, events
from fixops.platform.audit import audit_record
from fixops.platform.errors import Invalid

# The platform event a breach emits; apps/pipeline routes it to chat and ticket comments.
SLA_BREACHED = "finding.sla_breached"
SSVC_DECISIONS = ("Track", "Track*", "Attend", "Act")
# Findings announced per event (and per transaction): a backlog is announced in batches.
BREACH_BATCH = 1000
# Findings a notice names one by one; the rest are counted.
NOTICE_LINES = 20

_OPEN = sorted(ACTIVE)
CLOCK_START = Coalesce(F("sla_started_at"), F("first_seen"))


def policy_for(tenant_id: int) -> SlaPolicy:
    """The tenant's SLA policy, or the defaults (unsaved) when it has none."""
    return SlaPolicy.objects.filter(tenant_id=tenant_id).first() or SlaPolicy(tenant_id=tenant_id)


def deadline_days(policy: SlaPolicy, *, severity: str, kev: bool, ssvc: str) -> int | None:
    """Days a finding has under `policy`: its severity's, shortened by the KEV and SSVC
    overrides that apply; None when nothing gives it a deadline."""
    candidates = [(policy.days or {}).get(severity)]
    if kev:
        candidates.append(policy.kev_days)
    if ssvc:
        candidates.append((policy.ssvc_days or {}).get(ssvc))
    known = [int(days) for days in candidates if days is not None]
    return min(known) if known else None


def due_expression(policy: SlaPolicy) -> ExpressionWrapper:
    """`due_at` as SQL for every finding under `policy`: one CASE over the (severity, KEV,
    SSVC) combinations the policy distinguishes (at most 5 x 2 x 5 branches)."""
    overrides = [s for s in SSVC_DECISIONS if (policy.ssvc_days or {}).get(s) is not None]
    whens = []
    for severity in Severity.values:
        for kev in (True, False):
            for ssvc in [*overrides, ""]:
                days = deadline_days(policy, severity=severity, kev=kev, ssvc=ssvc)
                if days is None:
                    continue
                match = Q(severity=severity, kev=kev)
                match &= Q(ssvc=ssvc) if ssvc else ~Q(ssvc__in=overrides)
                whens.append(When(match, then=Value(timedelta(days=days))))
    span = Case(*whens, default=Value(None), output_field=DurationField())
    return ExpressionWrapper(CLOCK_START + span, output_field=DateTimeField())


def due_at_insert(policy: SlaPolicy, *, severity: str, now: datetime) -> datetime | None:
    """`due_at` of a finding inserted now (no KEV or SSVC yet: the risk refresh adds them)."""
    days = deadline_days(policy, severity=severity, kev=False, ssvc="")
    return None if days is None else now + timedelta(days=days)


def recompute(*, policy: SlaPolicy, ids: Sequence[int] | None = None) -> int:
    """Store `due_at` for the tenant's findings `ids` (all of them when None): one UPDATE."""
    due = due_expression(policy)
    if ids is None:
        return Finding.objects.filter(tenant_id=policy.tenant_id).update(due_at=due)
    return bulk.update_by_ids(Finding, list(ids), due_at=due)


def depends_on_intel(policy: SlaPolicy) -> bool:
    """Whether KEV or SSVC can move a deadline under `policy` (else re-scoring cannot)."""
    return policy.kev_days is not None or any(
        v is not None for v in (policy.ssvc_days or {}).values()
    )


# --- state ------------------------------------------------------------------------------------


def state_filter(state: str, *, now: datetime, due_soon_days: int) -> Q:
    """The findings in SLA `state` at `now`. A finding with no deadline is on time."""
    soon = now + timedelta(days=due_soon_days)
    if state == SlaState.PAUSED:
        return Q(status=FindingStatus.RISK_ACCEPTED)
    if state == SlaState.OVERDUE:
        return Q(status__in=_OPEN, due_at__lt=now)
    if state == SlaState.DUE_SOON:
        return Q(status__in=_OPEN, due_at__gte=now, due_at__lt=soon)
    if state == SlaState.ON_TIME:
        return Q(status__in=_OPEN) & (Q(due_at__gte=soon) | Q(due_at__isnull=True))
    raise Invalid(f"Unknown SLA state {state!r}.", code="invalid_sla_state")


def state_expression(*, now: datetime, due_soon_days: int) -> Case:
    """The SLA state as a column ("" for closed findings), for annotations."""
    return Case(
        *(
            When(state_filter(state, now=now, due_soon_days=due_soon_days), then=Value(state))
            for state in (SlaState.PAUSED, SlaState.OVERDUE, SlaState.DUE_SOON, SlaState.ON_TIME)
        ),
        default=Value(""),
    )


def with_state(queryset: QuerySet[Finding], *, tenant_id: int, now=None) -> QuerySet[Finding]:
    """`queryset` annotated with `sla_state` under the tenant's `due_soon_days`."""
    policy = policy_for(tenant_id)
    expression = state_expression(now=now or timezone.now(), due_soon_days=policy.due_soon_days)
    return queryset.annotate(sla_state=expression)


def compliance(queryset: QuerySet[Finding], *, tenant_id: int, now=None) -> dict[str, Any]:
    """Open findings of `queryset` by SLA state and the percent not overdue among those whose
    clock runs (paused ones apart); one aggregate query."""
    now = now or timezone.now()
    soon = policy_for(tenant_id).due_soon_days
    counts = queryset.aggregate(
        **{
            state.value: Count("id", filter=state_filter(state, now=now, due_soon_days=soon))
            for state in SlaState
        }
    )
    running = counts["on_time"] + counts["due_soon"] + counts["overdue"]
    percent = round(100 * (running - counts["overdue"]) / running, 1) if running else None
    return {
        "as_of": now,
        "due_soon_days": soon,
        "open": running + counts["paused"],
        "by_state": counts,
        "on_time_percent": percent,
    }


# --- writes -----------------------------------------------------------------------------------

POLICY_FIELDS = ("days", "kev_days", "ssvc_days", "due_soon_days", "restart_on_expiry")


def policy_values_check(values: dict[str, Any]) -> dict[str, Any]:
    """Raise Invalid unless `values` (SlaPolicy fields) are whole days where days are due."""
    days = values.get("days")
    if days is not None:
        unknown = sorted(set(days) - set(Severity.values))
        bad = [k for k, v in days.items() if v is not None and (type(v) is not int or v < 1)]
        if unknown or bad:
            raise Invalid(
                "SLA days are whole days >= 1 per severity (critical, high, medium, low, info).",
                code="invalid_sla_days",
                details={"unknown": unknown, "invalid": sorted(bad)},
            )
    ssvc = values.get("ssvc_days")
    if ssvc is not None:
        unknown = sorted(set(ssvc) - set(SSVC_DECISIONS))
        bad = [k for k, v in ssvc.items() if v is not None and (type(v) is not int or v < 1)]
        if unknown or bad:
            raise Invalid(
                "SSVC overrides are whole days >= 1 per decision (Track, Track*, Attend, Act).",
                code="invalid_sla_days",
                details={"unknown": unknown, "invalid": sorted(bad)},
            )
    if values.get("kev_days") is not None and values["kev_days"] < 1:
        raise Invalid("kev_days must be at least 1.", code="invalid_sla_days")
    return values


def sla_policy_update(*, tenant: Tenant, actor: str, **values: Any) -> SlaPolicy:
    """Change the tenant's SLA policy (fields of POLICY_FIELDS) and recompute every finding's
    `due_at` in the same transaction (one UPDATE); audited as `sla.policy_update`."""
    unknown = sorted(set(values) - set(POLICY_FIELDS))
    if unknown:
        raise Invalid("Unknown SLA policy fields.", code="invalid", details={"unknown": unknown})
    policy_values_check(values)
    with transaction.atomic():
        policy, _ = SlaPolicy.objects.select_for_update().get_or_create(tenant=tenant)
        before = {name: getattr(policy, name) for name in POLICY_FIELDS}
        for name, value in values.items():
            setattr(policy, name, value)
        policy.updated_at = timezone.now()
        policy.save()
        recomputed = recompute(policy=policy)
        audit_record(
            tenant=tenant,
            actor=actor,
            action="sla.policy_update",
            target_type="findings.slapolicy",
            target_id=policy.pk,
            before=before,
            after={**{name: getattr(policy, name) for name in POLICY_FIELDS}, "due": recomputed},
        )
    return policy


def sla_breaches_announce(*, now: datetime | None = None) -> int:
    """Announce every open finding past its `due_at` once per (finding, due_at) (beat): one
    `finding.sla_breached` event and one audit row per tenant and batch; returns how many
    findings were announced. Safe to run twice: announced rows record their due_at."""
    now = now or timezone.now()
    announced = 0
    for tenant_id in Tenant.objects.order_by("pk").values_list("pk", flat=True):
        while True:
            count = _announce_batch(tenant_id, now)
            announced += count
            if count < BREACH_BATCH:
                break
    return announced


def _announce_batch(tenant_id: int, now: datetime) -> int:
    with transaction.atomic():
        due = (
            Finding.objects.filter(tenant_id=tenant_id, status__in=_OPEN, due_at__lt=now)
            .filter(Q(sla_breach_announced__isnull=True) | ~Q(sla_breach_announced=F("due_at")))
            .order_by("due_at", "id")
            .select_for_update(skip_locked=True)
        )
        rows = list(
            due.values_list("id", "severity", "title", "due_at", "application__name")[:BREACH_BATCH]
        )
        if not rows:
            return 0
        ids = [row[0] for row in rows]
        bulk.update_by_ids(Finding, ids, sla_breach_announced=F("due_at"))
        _emit_breaches(tenant_id, rows)
        audit_record(
            tenant=Tenant(pk=tenant_id),  # an id is all the chain needs
            actor="system:sla",
            action="finding.sla_breach",
            target_type="findings.finding",
            target_id=str(ids[0]) if len(ids) == 1 else f"{len(ids)} findings",
            before=None,
            after={"count": len(ids), "finding_ids": ids},
        )
    return len(rows)


def _emit_breaches(tenant_id: int, rows: list[tuple]) -> None:
    worst = max((row[1] for row in rows), key=lambda s: SEVERITY_RANK.get(s, 0))
    lines = [
        f"#{pk} {severity} {title[:120]} ({application}), due {due:%Y-%m-%d %H:%M} UTC"
        for pk, severity, title, due, application in rows[:NOTICE_LINES]
    ]
    if len(rows) > NOTICE_LINES:
        lines.append(f"... and {len(rows) - NOTICE_LINES} more")
    events.emit(
        topic=SLA_BREACHED,
        tenant_id=tenant_id,
        payload={
            "finding_ids": [row[0] for row in rows],
            "due": {str(row[0]): row[3].isoformat() for row in rows},
            "title": f"{len(rows)} finding(s) breached their SLA",
            "body": "\n".join(lines),
            "severity": worst,
        },
    )
