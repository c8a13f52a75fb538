"""Advice: ask every enabled provider the same question in parallel, then combine.

- `advice_request` builds the redacted question once, stores it (what was sent, its digest)
  with one pending answer row per enabled provider, and after commit enqueues one task per
  provider plus a finish task at the deadline. No result backend is needed (the embedded
  filesystem broker has none): the answer rows are the join.
- `advice_answer` (a provider's task) claims its row, asks outside any transaction, records the
  answer, and the last one in combines. Safe twice: a row is claimed once.
- `advice_finish` (at the deadline, or when read after it) combines with what came in: a
  provider still silent is a timeout, and counts as dissent.

Advice never changes a finding or a decision: nothing here writes to them.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.advisory import services
from apps.advisory.asking import ask
from apps.advisory.consensus import NO_ANSWER, Ballot, combine, fields_from_schema
from apps.advisory.models import (
    Advice,
    AdviceAnswer,
    AdviceFeedback,
    AdviceStatus,
    AdviceTask,
    Provider,
)
from apps.advisory.prompts import build_question
from apps.advisory.providers.base import AnswerStatus, ProviderAnswer, Question
from apps.advisory.selectors import provider_enabled_list, settings_of
from apps.advisory.tasks import advice_ask_task, advice_finish_task
from apps.findings.models import Finding
from apps.policies.models import Decision
from apps.tenants.models import Tenant
from fixops.platform.audit import audit_record
from fixops.platform.errors import Invalid, NotFound

logger = logging.getLogger(__name__)

PENDING = "pending"
ASKING = "asking"
# Skipped before being asked: not a ballot (docs/advisory.md, "Consensus rule").
NOT_ASKED = frozenset({AnswerStatus.OVER_BUDGET})
REVIEWABLE_OUTCOMES = frozenset({"NEEDS_REVIEW", "BLOCK"})


def _deadline_seconds(providers: list[Provider]) -> float:
    """The longest one provider may take: every attempt at its timeout (plus connect) and the
    Retry-After waits asking.py honours between them, plus slack for the queue."""
    retries = int(getattr(settings, "FIXOPS_ADVISORY_RETRIES", 2))
    max_wait = float(getattr(settings, "FIXOPS_ADVISORY_MAX_RETRY_WAIT", 30.0))
    longest = max((p.timeout for p in providers), default=60)
    return (retries + 1) * (longest + 5) + retries * max_wait + 10


def _question_json(question: Question) -> dict[str, Any]:
    return {
        "task": question.task,
        "system": question.system,
        "data": question.data,
        "schema": question.schema,
        "schema_name": question.schema_name,
    }


def _question_of(advice: Advice) -> Question:
    q = advice.question
    return Question(
        task=q["task"],
        system=q["system"],
        data=q["data"],
        schema=q["schema"],
        schema_name=q["schema_name"],
        digest=advice.prompt_digest,
        redacted_text=advice.redacted_text,
    )


def advice_request(
    *,
    tenant: Tenant,
    task: str,
    finding: Finding | None = None,
    decision: Decision | None = None,
    user: Any = None,
    actor: str,
    now: datetime | None = None,
) -> Advice:
    """Ask every enabled provider about a finding (triage) or a decision (brief); answers
    arrive from workers. NotFound when the feature is absent for the tenant."""
    if not services.available(tenant):
        raise NotFound()
    if (
        task == AdviceTask.BRIEF
        and decision is not None
        and (decision.outcome not in REVIEWABLE_OUTCOMES)
    ):
        raise Invalid(
            "A review brief is for a NEEDS_REVIEW or BLOCK decision.",
            code="decision_not_reviewable",
        )
    providers = list(provider_enabled_list(tenant=tenant))
    question = build_question(task, finding=finding, decision=decision)
    now = now or timezone.now()
    with transaction.atomic():
        advice = Advice.objects.create(
            tenant=tenant,
            task=task,
            finding=finding,
            decision=decision,
            status=AdviceStatus.PENDING,
            threshold=settings_of(tenant=tenant).consensus_threshold,
            question=_question_json(question),
            prompt_digest=question.digest,
            redacted_text=question.redacted_text,
            requested_by=user if getattr(user, "pk", None) else None,
            requested_label=actor,
            created_at=now,
            deadline_at=now + timedelta(seconds=_deadline_seconds(providers)),
        )
        answers = AdviceAnswer.objects.bulk_create(
            AdviceAnswer(
                tenant=tenant,
                advice=advice,
                provider=p,
                provider_name=p.name,
                kind=p.kind,
                model=p.model,
                weight=p.weight,
            )
            for p in providers
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            action="advice.request",
            target_type="advice",
            target_id=advice.pk,
            before=None,
            after={
                "task": task,
                "finding": advice.finding_id,
                "decision": advice.decision_id,
                "providers": [p.name for p in providers],
                "prompt_digest": question.digest,
            },
        )
        transaction.on_commit(
            lambda: _enqueue(advice.pk, [a.pk for a in answers], advice.deadline_at), robust=True
        )
    return advice


def _enqueue(advice_id: int, answer_ids: list[int], deadline: datetime) -> None:
    for answer_id in answer_ids:
        advice_ask_task.delay(answer_id=answer_id)
    advice_finish_task.apply_async(kwargs={"advice_id": advice_id}, eta=deadline)


def advice_answer(*, answer_id: int) -> None:
    """Ask one provider its advice's question and record the answer (a provider's task)."""
    claimed = AdviceAnswer.objects.filter(pk=answer_id, status=PENDING).update(status=ASKING)
    if not claimed:
        return  # already asked (a redelivery) or the advice was finished without it
    row = AdviceAnswer.objects.select_related("advice", "provider").get(pk=answer_id)
    advice = row.advice
    if advice.finished:
        return
    Advice.objects.filter(pk=advice.pk, status=AdviceStatus.PENDING).update(
        status=AdviceStatus.RUNNING
    )
    if row.provider is None:  # deleted since the question was asked: a failed answer
        answer = ProviderAnswer(
            provider_id=0,
            provider_name=row.provider_name,
            kind=row.kind,
            model=row.model,
            ok=False,
            data=None,
            error="the provider was deleted before it was asked",
            status=AnswerStatus.FAILED,
        )
    else:  # outside any transaction: a vendor call
        answer = ask(row.provider, _question_of(advice))
    with transaction.atomic():
        advice = Advice.objects.select_for_update().get(pk=advice.pk)
        if advice.finished:
            return  # the deadline passed meanwhile: the result stands without this answer
        AdviceAnswer.objects.filter(pk=answer_id).update(
            status=answer.status,
            data=answer.data if answer.ok else None,
            error=answer.error[:2000],
            tokens_in=answer.tokens_in,
            tokens_out=answer.tokens_out,
            cost=answer.cost,
            latency_ms=answer.latency_ms,
            answered_at=timezone.now(),
        )
        if not advice.answers.filter(status__in=(PENDING, ASKING)).exists():
            _complete(advice)


def advice_finish(*, advice_id: int, now: datetime | None = None) -> Advice | None:
    """Close advice at its deadline with the answers that came in; silent providers are
    timeouts (dissent). Does nothing to finished advice or before the deadline."""
    now = now or timezone.now()
    with transaction.atomic():
        advice = Advice.objects.select_for_update().filter(pk=advice_id).first()
        if advice is None or advice.finished or now < advice.deadline_at:
            return advice
        advice.answers.filter(status__in=(PENDING, ASKING)).update(
            status=AnswerStatus.TIMEOUT, error="no answer before the advice's deadline"
        )
        _complete(advice, now=now)
    return advice


def advice_refresh(*, advice: Advice, now: datetime | None = None) -> Advice:
    """The advice as it stands, closed first when its deadline passed while unfinished (a
    broker that lost the finish task must not leave it pending forever)."""
    now = now or timezone.now()
    if advice.finished or now < advice.deadline_at:
        return advice
    return advice_finish(advice_id=advice.pk, now=now) or advice


def _complete(advice: Advice, *, now: datetime | None = None) -> None:
    """Combine the answers and close the advice (inside the caller's transaction, row locked)."""
    answers = list(advice.answers.all())
    ballots = [
        Ballot(a.provider_name, a.weight, a.data if a.status == AnswerStatus.OK else None)
        for a in answers
        if a.status not in NOT_ASKED
    ]
    outcome = combine(
        ballots,
        fields=fields_from_schema(advice.question.get("schema") or {}),
        threshold=advice.threshold,
    )
    advice.result = outcome.result
    advice.agreement = round(outcome.agreement, 4)
    advice.outcome = outcome.as_dict()
    advice.status = AdviceStatus.FAILED if outcome.result == NO_ANSWER else AdviceStatus.DONE
    advice.error = "no provider gave a valid answer" if outcome.result == NO_ANSWER else ""
    advice.completed_at = now or timezone.now()
    advice.save(update_fields=["result", "agreement", "outcome", "status", "error", "completed_at"])
    audit_record(
        tenant=advice.tenant,
        actor="system:advisory",
        action="advice.complete",
        target_type="advice",
        target_id=advice.pk,
        before=None,
        after={
            "status": advice.status,
            "result": advice.result,
            "agreement": advice.agreement,
            "answers": {a.provider_name: a.status for a in answers},
        },
    )


def advice_feedback(*, advice: Advice, user: Any, verdict: str, actor: str) -> AdviceFeedback:
    """Record (or change) a person's agree/disagree on finished advice."""
    if not advice.finished or advice.status != AdviceStatus.DONE:
        raise Invalid("Only completed advice can be rated.", code="advice_not_done")
    if getattr(user, "pk", None) is None:
        raise Invalid(
            "Feedback is a person's judgement; API tokens cannot give it.",
            code="feedback_needs_person",
        )
    with transaction.atomic():
        row = AdviceFeedback.objects.filter(advice=advice, user=user).first()
        before = {"verdict": row.verdict} if row else None
        if row is None:
            row = AdviceFeedback.objects.create(
                tenant_id=advice.tenant_id, advice=advice, user=user, verdict=verdict
            )
        elif row.verdict != verdict:
            row.verdict, row.created_at = verdict, timezone.now()
            row.save(update_fields=["verdict", "created_at"])
        audit_record(
            tenant=advice.tenant,
            actor=actor,
            action="advice.feedback",
            target_type="advice",
            target_id=advice.pk,
            before=before,
            after={"verdict": verdict},
        )
    return row
