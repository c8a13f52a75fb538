"""Consensus advice per finding with three fake providers (OpenAI, Anthropic, Gemini formats).

- advice: advice_request (question, advice and answer rows, audit) then each provider's task
  in turn in this process (claim, ask, record; the last one combines and audits): ms per
  finding, and tokens per finding (in + out, all three providers). On real workers the three
  asks run in parallel, so the latency a person waits is about one ask plus the bookkeeping.
- baseline, same run: the three bare `ask` calls for the same question, in turn (what the
  providers cost without advice rows, consensus or audit).
- combine: the pure consensus rule on three triage answers, µs per call.
"""

from __future__ import annotations

import time
from contextlib import ExitStack

import pytest

from apps.advisory.advising import advice_request
from apps.advisory.asking import ask
from apps.advisory.consensus import Ballot, combine, fields_from_schema
from apps.advisory.prompts import build_question
from apps.advisory.schemas import schema_for
from apps.advisory.services import provider_create, settings_update
from tests.advisory.advice_support import run_workers
from tests.bench.figures import figure
from tests.fakes.llm import FAKES, TRIAGE_ANSWER
from tests.findings.factories import FindingFactory
from tests.tenants.factories import TenantFactory, UserFactory

N = 30


@pytest.mark.django_db
def test_bench_consensus_advice_per_finding(django_capture_on_commit_callbacks):
    tenant = TenantFactory(slug="bench-advice")
    admin = UserFactory(username="bench-advice-admin")
    findings = [
        FindingFactory(
            tenant=tenant,
            kind="sca",
            title=f"Prototype pollution in lodash {i}",
            message="lodash before 4.17.21 allows prototype pollution via zipObjectDeep. " * 4,
            component_purl="pkg:npm/lodash@4.17.20",
            vuln_id="CVE-2020-8203",
        )
        for i in range(N + 1)
    ]
    with ExitStack() as stack:
        fakes = [stack.enter_context(cls()) for cls in FAKES]
        providers = [
            provider_create(tenant=tenant, **f.provider_fields(daily_token_budget=0)) for f in fakes
        ]
        settings_update(tenant=tenant, user=admin, accept_data_sharing=True)
        settings_update(tenant=tenant, user=admin, enabled=True)

        question = build_question("triage", finding=findings[0])
        for p in providers:  # warm up
            ask(p, question)
        started = time.perf_counter()
        for finding in findings[1:]:
            question = build_question("triage", finding=finding)
            for p in providers:
                assert ask(p, question).ok
        baseline = (time.perf_counter() - started) / N * 1000

        def advise(finding):
            with django_capture_on_commit_callbacks(execute=False):
                advice = advice_request(tenant=tenant, task="triage", finding=finding, actor="b")
            return run_workers(advice)

        advise(findings[0])  # warm up
        started = time.perf_counter()
        tokens = 0
        for finding in findings[1:]:
            advice = advise(finding)
            assert advice.result == "consensus"
            tokens += sum(a.tokens_in + a.tokens_out for a in advice.answers.all())
        measured = (time.perf_counter() - started) / N * 1000
        tokens_per_finding = tokens / N

    fields = fields_from_schema(schema_for("triage"))
    ballots = [Ballot(f"p{i}", 1.0, dict(TRIAGE_ANSWER)) for i in range(3)]
    rounds = 2000
    started = time.perf_counter()
    for _ in range(rounds):
        combine(ballots, fields=fields, threshold=0.85)
    combine_us = (time.perf_counter() - started) / rounds * 1_000_000

    print(
        f"\nconsensus advice, 3 providers: {measured:.1f} ms per finding (asks in turn, "
        f"in-process), {tokens_per_finding:.0f} tokens per finding; baseline 3 bare asks "
        f"{baseline:.1f} ms; ratio {measured / baseline:.2f}x; combine {combine_us:.0f} µs"
    )
    figure("advice.per_finding", measured, "ms", better="lower")
    figure("advice.per_finding_baseline", baseline, "ms", better="lower")
    figure("advice.tokens_per_finding", tokens_per_finding, "tokens", better="lower")
    figure("advice.combine", combine_us, "us", better="lower")
