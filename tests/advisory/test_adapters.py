"""Each adapter against its fake vendor: a valid structured answer, and every kind of trouble
turned into the answer's status (never an exception)."""

from __future__ import annotations

import pytest

from apps.advisory.asking import ask
from apps.advisory.models import TokenUsage
from apps.advisory.prompts import build_question
from apps.advisory.providers.base import AnswerStatus
from tests.fakes.llm import TRIAGE_ANSWER
from tests.findings.factories import FindingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def question(acme):
    finding = FindingFactory(
        tenant=acme,
        kind="sca",
        tool="trivy",
        rule_id="CVE-2024-1234",
        title="lodash prototype pollution",
        message="lodash 4.17.20 is vulnerable",
        component_purl="pkg:npm/lodash@4.17.20",
        component_name="lodash",
        component_version="4.17.20",
        path="package-lock.json",
        vuln_id="CVE-2024-1234",
    )
    return build_question("triage", finding=finding)


def test_valid_answer_through_each_vendor_format(acme, fake_model, make_provider, question):
    provider = make_provider(acme, fake_model, price_in_per_1k="0.01", price_out_per_1k="0.03")

    answer = ask(provider, question)

    assert answer.status == AnswerStatus.OK, answer.error
    assert answer.ok and answer.data == TRIAGE_ANSWER
    assert (answer.provider_id, answer.kind, answer.model) == (
        provider.pk,
        fake_model.kind,
        fake_model.model,
    )
    assert answer.tokens_in > 0 and answer.tokens_out > 0
    expected = (answer.tokens_in * 0.01 + answer.tokens_out * 0.03) / 1000
    assert answer.cost == pytest.approx(expected)
    assert fake_model.rejections == []
    usage = TokenUsage.objects.get(provider=provider)
    assert (usage.tokens_in, usage.tokens_out, usage.calls) == (
        answer.tokens_in,
        answer.tokens_out,
        1,
    )


def test_the_request_uses_the_vendors_structured_output_mechanism(
    acme, fake_openai, fake_anthropic, fake_gemini, make_provider, question
):
    for fake in (fake_openai, fake_anthropic, fake_gemini):
        assert ask(make_provider(acme, fake), question).ok
    openai = fake_openai.requests[0].json
    assert openai["response_format"]["type"] == "json_schema"
    assert openai["response_format"]["json_schema"]["strict"] is True
    assert openai["response_format"]["json_schema"]["name"] == "fixops_triage"
    assert "tools" not in openai
    anthropic = fake_anthropic.requests[0].json
    assert [t["name"] for t in anthropic["tools"]] == ["fixops_triage"]
    assert anthropic["tool_choice"] == {
        "type": "tool",
        "name": "fixops_triage",
        "disable_parallel_tool_use": True,
    }
    assert fake_anthropic.requests[0].header("anthropic-version") == "2023-06-01"
    gemini = fake_gemini.requests[0].json
    config = gemini["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"]["type"] == "OBJECT"
    assert "tools" not in gemini
    # The API key travels in each vendor's own header, never in the URL.
    assert fake_gemini.requests[0].header("x-goog-api-key") == fake_gemini.api_key
    assert fake_gemini.requests[0].query == {}


@pytest.mark.parametrize(
    ("mode", "status"),
    [
        ("off_schema", AnswerStatus.OFF_SCHEMA),
        ("malformed", AnswerStatus.OFF_SCHEMA),
        ("refuse", AnswerStatus.FAILED),
        ("disagree", AnswerStatus.OK),
    ],
)
def test_scripted_answers_map_to_statuses(acme, fake_model, make_provider, question, mode, status):
    fake_model.mode = mode
    answer = ask(make_provider(acme, fake_model), question)

    assert answer.status == status, answer.error
    assert answer.ok is (status == AnswerStatus.OK)
    if status != AnswerStatus.OK:
        assert answer.data is None and answer.error
    else:
        assert answer.data != TRIAGE_ANSWER


def test_rate_limit_is_retried_after_the_vendors_wait(
    acme, fake_model, make_provider, question, advisory_settings
):
    fake_model.fail_next(1, 429, retry_after=1)

    answer = ask(make_provider(acme, fake_model), question)

    assert answer.status == AnswerStatus.OK, answer.error
    assert [r.fault for r in fake_model.requests] == ["fail 429", ""]


def test_rate_limit_that_persists_is_rate_limited(
    acme, fake_model, make_provider, question, advisory_settings
):
    fake_model.fail_next(5, 429, retry_after=0)

    answer = ask(make_provider(acme, fake_model), question)

    assert answer.status == AnswerStatus.RATE_LIMITED
    assert "429" in answer.error
    assert len(fake_model.requests) == 2  # one try + FIXOPS_ADVISORY_RETRIES (1)


def test_a_wait_longer_than_allowed_is_not_waited_for(
    acme, fake_model, make_provider, question, advisory_settings
):
    fake_model.fail_next(1, 429, retry_after=3600)

    answer = ask(make_provider(acme, fake_model), question)

    assert answer.status == AnswerStatus.RATE_LIMITED
    assert len(fake_model.requests) == 1


def test_timeout(acme, fake_model, make_provider, question):
    fake_model.delay(2.5, n=1)

    answer = ask(make_provider(acme, fake_model, timeout=1), question)

    assert answer.status == AnswerStatus.TIMEOUT
    assert len(fake_model.requests) == 1  # a read timeout is not retried


def test_vendor_error_is_a_failed_answer_with_the_vendors_message(
    acme, fake_model, make_provider, question
):
    provider = make_provider(acme, fake_model, api_key="wrong-key")

    answer = ask(provider, question)

    assert answer.status == AnswerStatus.FAILED
    assert answer.error.startswith(("HTTP 401", "HTTP 400"))
    assert "key" in answer.error.lower()


def test_unknown_model_is_a_failed_answer(acme, fake_model, make_provider, question):
    answer = ask(make_provider(acme, fake_model, model="no-such-model"), question)

    assert answer.status == AnswerStatus.FAILED
    assert "HTTP 404" in answer.error


def test_unreadable_envelope_is_failed(acme, fake_model, make_provider, question, monkeypatch):
    monkeypatch.setattr(fake_model, "dispatch", lambda req: _html())

    answer = ask(make_provider(acme, fake_model), question)

    assert answer.status == AnswerStatus.FAILED
    assert "envelope" in answer.error


def _html():
    from tests.fakes.base import Response

    return Response(200, "<html>proxy login</html>", {"Content-Type": "text/html"})


def test_breaker_opens_after_repeated_failures_and_skips_the_provider(
    acme, fake_openai, make_provider, question, settings
):
    settings.FIXOPS_ADVISORY_RETRIES = 0
    settings.FIXOPS_BREAKER_THRESHOLD = 2
    provider = make_provider(acme, fake_openai)
    fake_openai.fail_next(2, 503)

    statuses = [ask(provider, question).status for _ in range(3)]

    assert statuses == [AnswerStatus.FAILED] * 3
    assert len(fake_openai.requests) == 2  # the third was held back by the open breaker
    provider.refresh_from_db()
    assert provider.breaker_state == "open"


def test_an_undecryptable_key_is_a_failed_answer_without_a_call(
    acme, fake_openai, make_provider, question
):
    provider = make_provider(acme, fake_openai)
    provider.api_key_token = b"gAAAAA-not-a-fernet-token"
    provider.save(update_fields=["api_key_token"])

    answer = ask(provider, question)

    assert answer.status == AnswerStatus.FAILED and "decrypted" in answer.error
    assert fake_openai.requests == []
