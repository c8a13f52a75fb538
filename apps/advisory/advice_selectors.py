"""Reads of advice, tenant first: one advice, the latest for a subject, what a gate may see."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from apps.advisory.models import Advice, AdviceFeedback, AdviceStatus, AdviceTask
from apps.findings.models import Application, Finding
from apps.policies.inputs import IN_INPUT
from apps.policies.models import Decision
from apps.tenants.models import Tenant
from apps.tenants.scoping import get_scoped_or_404


def advice_get(*, tenant: Tenant, advice_id: object) -> Advice:
    """One advice of the tenant (NotFound otherwise), with its answers."""
    return get_scoped_or_404(
        Advice.objects.prefetch_related("answers"), tenant=tenant, pk=advice_id
    )


def advice_latest(
    *, tenant: Tenant, finding: Finding | None = None, decision: Decision | None = None
) -> Advice | None:
    """The newest advice on a finding or a decision, whatever its status."""
    subject = {"finding": finding} if finding is not None else {"decision": decision}
    rows = Advice.objects.for_tenant(tenant).filter(**subject).prefetch_related("answers")
    return rows.order_by("-id").first()


def advice_feedback_of(*, advice: Advice) -> QuerySet[AdviceFeedback]:
    """Who agreed or disagreed with `advice`."""
    return AdviceFeedback.objects.filter(tenant_id=advice.tenant_id, advice=advice).select_related(
        "user"
    )


def advice_policy_entry(advice: Advice) -> dict[str, Any]:
    """What a policy sees of one advice: its result and agreement and, per compared field, the
    winning value (None when contested). No free text: policies decide on categories."""
    outcome = advice.outcome or {}
    answer = outcome.get("answer") or {}
    fields = {f["field"]: f["winner"] for f in outcome.get("fields", [])}
    if advice.result == "single_model":  # the one valid answer is its own winner
        fields = {name: _dotted(answer, name) for name in fields}
    return {
        "id": advice.pk,
        "result": advice.result,
        "agreement": advice.agreement,
        "fields": fields,
        "completed_ns": int(advice.completed_at.timestamp() * 1_000_000_000),
    }


def advice_for_gate(
    *, tenant: Tenant, application: Application, before: datetime
) -> dict[str, dict[str, Any]]:
    """`input.advice`: for each of the application's findings in the policy input that has
    triage advice COMPLETED before `before` (the gate never waits for a model), its latest such
    advice, keyed by the finding id as a string (JSON object keys)."""
    rows = (
        Advice.objects.for_tenant(tenant)
        .filter(
            task=AdviceTask.TRIAGE,
            status=AdviceStatus.DONE,
            completed_at__lt=before,
            finding__application=application,
            finding__status__in=IN_INPUT,
        )
        .only("id", "finding_id", "result", "agreement", "outcome", "completed_at")
        .order_by("finding_id", "-completed_at", "-id")
    )
    latest: dict[str, dict[str, Any]] = {}
    for advice in rows.iterator(chunk_size=500):
        key = str(advice.finding_id)
        if key not in latest:
            latest[key] = advice_policy_entry(advice)
    return latest


def advice_for_evidence(*, tenant: Tenant, advice_ids: Iterable[int]) -> list[Advice]:
    """The advice a decision's input held, with the answers its evidence records."""
    return list(
        Advice.objects.for_tenant(tenant)
        .filter(pk__in=list(advice_ids))
        .prefetch_related("answers")
        .order_by("id")
    )


def _dotted(data: dict, path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _sided(advice: Advice) -> set[str]:
    """The providers whose answer is what the advice showed: a valid answer on the winning
    side of every field that has a winner."""
    fields = [f for f in (advice.outcome or {}).get("fields", []) if f.get("winner") is not None]
    sided: set[str] | None = None
    for field in fields:
        winners = {p for v in field["votes"] if v["winning"] for p in v["providers"]}
        sided = winners if sided is None else sided & winners
    if sided is None:  # nothing compared: every valid answer is what was shown
        sided = {a.provider_name for a in advice.answers.all() if a.status == "ok"}
    return sided


def _rate(agree: int, disagree: int) -> dict[str, Any]:
    n = agree + disagree
    rate = round(agree / n, 3) if n else None
    return {"agree": agree, "disagree": disagree, "n": n, "rate": rate}


def advice_agree_rates(*, tenant: Tenant, since: datetime) -> dict[str, Any]:
    """Analysts' agree rate = agree / (agree + disagree), with n: for consensus advice, and per
    provider over the rated advice whose shown answer that provider gave (docs/advisory.md,
    "Quality")."""
    rows = (
        AdviceFeedback.objects.for_tenant(tenant)
        .filter(advice__created_at__gte=since)
        .select_related("advice")
        .prefetch_related("advice__answers")
    )
    consensus = [0, 0]
    providers: dict[str, list[int]] = {}
    for feedback in rows:
        slot = 0 if feedback.verdict == "agree" else 1
        if feedback.advice.result == "consensus":
            consensus[slot] += 1
        for name in _sided(feedback.advice):
            providers.setdefault(name, [0, 0])[slot] += 1
    return {
        "consensus": _rate(*consensus),
        "providers": [
            {"provider": name, **_rate(*counts)} for name, counts in sorted(providers.items())
        ],
    }
