"""Helpers of the advice tests: turn advisory on for a tenant with providers at the fakes, and
play the workers' part (each provider's task, then the deadline) in-process, in order."""

from __future__ import annotations

from datetime import timedelta

from apps.advisory.advising import advice_answer, advice_finish
from apps.advisory.models import Advice
from apps.advisory.services import settings_update


def enable(tenant, user, fakes, make_provider, *, threshold: float | None = None, **fields):
    """Accept the notice, enable advisory and point one provider at each fake."""
    settings_update(tenant=tenant, user=user, accept_data_sharing=True)
    settings_update(tenant=tenant, user=user, enabled=True, consensus_threshold=threshold)
    return [make_provider(tenant, fake, **fields) for fake in fakes]


def run_workers(advice: Advice, *, finish: bool = False) -> Advice:
    """What the workers do: each provider's task (as a worker would, in turn), then, when
    `finish`, the task at the deadline."""
    for answer_id in advice.answers.order_by("id").values_list("id", flat=True):
        advice_answer(answer_id=answer_id)
    if finish:
        advice.refresh_from_db()
        advice_finish(advice_id=advice.pk, now=advice.deadline_at + timedelta(seconds=1))
    advice.refresh_from_db()
    return advice
