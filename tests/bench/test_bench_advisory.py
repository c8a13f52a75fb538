"""Cost of asking one model provider, per vendor format, against the loopback fakes.

- question: build_question("triage") for a finding with text in every field (redaction of
  every string, fencing, digest): ms per question.
- ask: apps.advisory.asking.ask (budget check, breaker, guarded session, vendor body, local
  schema validation, usage row): ms per answer, and tokens per question as the fake counts.
- baseline, same run: the same request body POSTed to the same fake by a bare requests
  session (no guard, no validation, no database): what the HTTP round trip alone costs.
"""

from __future__ import annotations

import time

import pytest
import requests

from apps.advisory.asking import ask
from apps.advisory.prompts import build_question
from apps.advisory.providers import adapter_for
from apps.advisory.schemas import wire_schema
from apps.advisory.services import provider_create
from tests.bench.figures import figure
from tests.fakes.llm import FAKES
from tests.findings.factories import FindingFactory
from tests.tenants.factories import TenantFactory

N = 100


@pytest.mark.django_db
def test_bench_advisory_ask_per_vendor():
    tenant = TenantFactory(slug="bench-advisory")
    finding = FindingFactory(
        tenant=tenant,
        kind="sca",
        title="Prototype pollution in lodash " * 4,
        message="lodash before 4.17.21 allows prototype pollution via zipObjectDeep. " * 8,
        path="services/web/package-lock.json",
        component_purl="pkg:npm/lodash@4.17.20",
        component_name="lodash",
        component_version="4.17.20",
        vuln_id="CVE-2020-8203",
    )
    build_question("triage", finding=finding)  # warm up
    started = time.perf_counter()
    for _ in range(N):
        question = build_question("triage", finding=finding)
    per_question = (time.perf_counter() - started) / N * 1000
    print(f"\nadvisory question (redact, fence, digest): {per_question:.2f} ms")
    figure("advisory.question", per_question, "ms", better="lower")

    for fake_class in FAKES:
        with fake_class() as fake:
            provider = provider_create(tenant=tenant, **fake.provider_fields(daily_token_budget=0))
            adapter = adapter_for(provider.kind)
            url = adapter.url(provider.base_url, provider.model)
            body = adapter.body(
                model=provider.model, question=question, wire_schema=wire_schema(question.schema)
            )
            headers = adapter.headers(provider.api_key, provider.base_url)
            with requests.Session() as bare:
                bare.post(url, json=body, headers=headers, timeout=10)  # warm up
                started = time.perf_counter()
                for _ in range(N):
                    bare.post(url, json=body, headers=headers, timeout=10).raise_for_status()
                baseline = (time.perf_counter() - started) / N * 1000

            ask(provider, question)  # warm up
            started = time.perf_counter()
            tokens = 0
            for _ in range(N):
                answer = ask(provider, question)
                assert answer.ok, answer.error
                tokens = answer.tokens_in + answer.tokens_out
            measured = (time.perf_counter() - started) / N * 1000
            print(
                f"advisory ask {fake.kind}: {measured:.2f} ms per answer, {tokens} tokens per "
                f"question; bare POST baseline {baseline:.2f} ms; ratio {measured / baseline:.1f}x"
            )
            figure(f"advisory.ask_{fake.kind}", measured, "ms", better="lower")
            figure(f"advisory.ask_{fake.kind}_baseline", baseline, "ms", better="lower")
            figure(f"advisory.tokens_{fake.kind}", tokens, "tokens", better="lower")
