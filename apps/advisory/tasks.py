"""Advice fan-out: one task per provider asked, and one that closes the advice at its deadline.

Thin wrappers over apps/advisory/advising.py; each is safe to run twice (an answer row is
claimed once, finished advice is left alone).
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="fixops.advisory.ask", acks_late=True, ignore_result=True)
def advice_ask_task(*, answer_id: int) -> None:
    from apps.advisory.advising import advice_answer

    advice_answer(answer_id=answer_id)


@shared_task(name="fixops.advisory.finish", acks_late=True, ignore_result=True)
def advice_finish_task(*, advice_id: int) -> None:
    from apps.advisory.advising import advice_finish

    advice_finish(advice_id=advice_id)
