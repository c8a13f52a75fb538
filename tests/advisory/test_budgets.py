"""Budgets: tokens per UTC day per provider, cost = tokens x the configured price; a provider
over its budget is skipped without a call and shown as such."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.advisory.asking import ask, estimate_tokens
from apps.advisory.models import TokenUsage
from apps.advisory.prompts import build_question
from apps.advisory.providers.base import AnswerStatus
from tests.findings.factories import FindingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def question(acme):
    return build_question("triage", finding=FindingFactory(tenant=acme, title="SQL injection"))


def test_usage_accumulates_per_day_and_cost_follows_the_price(
    acme, fake_openai, make_provider, question
):
    provider = make_provider(acme, fake_openai, price_in_per_1k="2.5", price_out_per_1k="10")
    first, second = ask(provider, question), ask(provider, question)

    usage = TokenUsage.objects.get(provider=provider, day=timezone.now().date())
    assert usage.calls == 2
    assert usage.tokens_in == first.tokens_in + second.tokens_in
    assert usage.tokens_out == first.tokens_out + second.tokens_out
    expected = (usage.tokens_in * 2.5 + usage.tokens_out * 10) / 1000
    assert float(usage.cost) == pytest.approx(expected)
    assert first.cost + second.cost == pytest.approx(expected)


def test_over_budget_provider_is_skipped_without_a_call(
    acme, fake_openai, fake_gemini, make_provider, question
):
    spent = make_provider(acme, fake_openai, daily_token_budget=1000)
    fresh = make_provider(acme, fake_gemini, daily_token_budget=1_000_000)
    TokenUsage.objects.create(
        tenant=acme, provider=spent, day=timezone.now().date(), tokens_in=990, tokens_out=5
    )

    skipped, answered = ask(spent, question), ask(fresh, question)

    assert skipped.status == AnswerStatus.OVER_BUDGET and not skipped.ok
    assert "budget" in skipped.error
    assert fake_openai.requests == []  # never called
    assert answered.status == AnswerStatus.OK
    usage = TokenUsage.objects.get(provider=spent)
    assert usage.skipped_over_budget == 1 and usage.calls == 0


def test_a_question_that_would_pass_the_budget_is_not_sent(
    acme, fake_anthropic, make_provider, question
):
    provider = make_provider(acme, fake_anthropic, daily_token_budget=estimate_tokens(question) - 1)

    assert ask(provider, question).status == AnswerStatus.OVER_BUDGET
    assert fake_anthropic.requests == []


def test_yesterdays_usage_does_not_count_today(acme, fake_openai, make_provider, question):
    provider = make_provider(acme, fake_openai, daily_token_budget=5000)
    TokenUsage.objects.create(
        tenant=acme,
        provider=provider,
        day=timezone.now().date() - timedelta(days=1),
        tokens_in=10_000,
    )

    assert ask(provider, question).status == AnswerStatus.OK


def test_zero_budget_means_no_budget(acme, fake_openai, make_provider, question):
    provider = make_provider(acme, fake_openai, daily_token_budget=0)
    TokenUsage.objects.create(
        tenant=acme, provider=provider, day=timezone.now().date(), tokens_in=10**9
    )

    assert ask(provider, question).status == AnswerStatus.OK
