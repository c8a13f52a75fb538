"""Asking one provider one question: budget, circuit breaker, the call with retries that
honour Retry-After, local schema validation, token usage. Vendor trouble is never raised: it
becomes the answer's status (base.AnswerStatus).

- Budget: tokens (in + out) per UTC day. A provider whose usage today plus this question's
  estimated input would pass its budget is skipped without a call (status over_budget) and the
  skip is counted. Concurrent questions can overshoot by at most their own size.
- Breaker: the provider row carries the breaker fields; while open the provider is skipped
  (status failed), after the wait one caller probes (fixops/platform/http/breaker.py).
- Retries: 408, 409, 429, 5xx and 529 are retried up to FIXOPS_ADVISORY_RETRIES times after the
  wait the vendor asked for (Retry-After, Gemini's RetryInfo.retryDelay) or an exponential
  backoff; a wait beyond FIXOPS_ADVISORY_MAX_RETRY_WAIT is not waited for. A read timeout is
  not retried (the answer was probably being generated; a retry doubles the wait).
- Validation: the answer must be a JSON object valid against the task's published schema
  (jsonschema, Draft 2020-12), whatever the vendor's structured-output mode promised.
"""

from __future__ import annotations

import json
import logging
import random
import time
from decimal import Decimal

import requests
from cryptography.fernet import InvalidToken
from django.conf import settings
from django.utils import timezone

from apps.advisory import selectors, services
from apps.advisory.models import Provider
from apps.advisory.providers import adapter_for
from apps.advisory.providers.base import AnswerStatus, ProviderAnswer, Question
from apps.advisory.schemas import validation_errors, wire_schema
from fixops.platform.http import breaker
from fixops.platform.http.errors import OutboundError, TransientError
from fixops.platform.http.retry import backoff_delay, parse_retry_after
from fixops.platform.http.session import build_session
from fixops.platform.models.breaker import BreakerState

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
CONNECT_TIMEOUT = 5.0
CHARS_PER_TOKEN = 4  # a rough, vendor-neutral estimate used only for the budget check


def estimate_tokens(question: Question) -> int:
    """Input tokens a question will roughly cost (system, user turn, schema)."""
    size = len(question.system) + len(question.redacted_text) + len(json.dumps(question.schema))
    return size // CHARS_PER_TOKEN + 1


def cost_of(provider: Provider, tokens_in: int, tokens_out: int) -> Decimal:
    """Tokens times the provider's configured price per 1k tokens."""
    return (
        Decimal(tokens_in) * Decimal(str(provider.price_in_per_1k))
        + Decimal(tokens_out) * Decimal(str(provider.price_out_per_1k))
    ) / Decimal(1000)


def over_budget(provider: Provider, *, estimate: int) -> bool:
    """Whether a question of `estimate` input tokens would pass today's budget."""
    if not provider.daily_token_budget:
        return False
    usage = selectors.usage_of(provider=provider, day=timezone.now().date())
    used = usage.tokens if usage else 0
    return used + estimate > provider.daily_token_budget


class _Outcome(Exception):
    """A call that ended without a usable answer; `status` says how."""

    def __init__(
        self,
        status: str,
        error: str,
        *,
        tokens: tuple[int, int] = (0, 0),
        transient: bool = False,
    ) -> None:
        super().__init__(error)
        self.status, self.error, self.tokens = status, error, tokens
        # The destination's health is in doubt (counts toward its circuit breaker).
        self.transient = transient or status in (AnswerStatus.TIMEOUT, AnswerStatus.RATE_LIMITED)


def ask(provider: Provider, question: Question) -> ProviderAnswer:
    """One provider's answer to `question` (see the module docstring); never raises for
    vendor trouble."""
    answer = ProviderAnswer(
        provider_id=provider.pk,
        provider_name=provider.name,
        kind=provider.kind,
        model=provider.model,
        ok=False,
        data=None,
        error="",
        status=AnswerStatus.FAILED,
    )
    if over_budget(provider, estimate=estimate_tokens(question)):
        services.usage_record(provider=provider, skipped_over_budget=True)
        answer.status = AnswerStatus.OVER_BUDGET
        answer.error = f"daily token budget of {provider.daily_token_budget} reached; not asked"
        return answer
    rows = Provider.objects.filter(pk=provider.pk)
    held = _breaker_holds(provider, rows)
    if held:
        answer.error = held
        return answer
    started = time.monotonic()
    try:
        data, tokens = _call(provider, question)
    except _Outcome as outcome:
        answer.status, answer.error = outcome.status, outcome.error
        tokens = outcome.tokens
        if outcome.transient:
            breaker.record_failure(rows, outcome.error)
        else:
            breaker.record_success(rows)  # it answered: the destination is healthy
    else:
        answer.ok, answer.status, answer.data = True, AnswerStatus.OK, data
        breaker.record_success(rows)
    answer.latency_ms = int((time.monotonic() - started) * 1000)
    answer.tokens_in, answer.tokens_out = tokens
    cost = cost_of(provider, *tokens)
    answer.cost = float(cost)
    services.usage_record(provider=provider, tokens_in=tokens[0], tokens_out=tokens[1], cost=cost)
    return answer


def _breaker_holds(provider: Provider, rows) -> str:
    """Why the breaker holds this call back ("" when it may go ahead, as a probe or not)."""
    state = rows.values("breaker_state", "breaker_until").first() or {}
    if state.get("breaker_state") not in (BreakerState.OPEN, BreakerState.HALF_OPEN):
        return ""
    until = state.get("breaker_until")
    due = until is None or until <= timezone.now()
    if due and breaker.take_probes(rows, hold_seconds=provider.timeout + CONNECT_TIMEOUT + 5):
        return ""
    return "not asked: circuit breaker open after repeated failures"


def _call(provider: Provider, question: Question) -> tuple[dict, tuple[int, int]]:
    adapter = adapter_for(provider.kind)
    try:
        api_key = provider.api_key
    except InvalidToken:
        raise _Outcome(
            AnswerStatus.FAILED,
            "the API key cannot be decrypted with FIXOPS_ENCRYPTION_KEYS; enter it again",
        ) from None
    session = build_session(
        label=f"advisory provider {provider.name!r}",
        timeout=(CONNECT_TIMEOUT, float(provider.timeout)),
        headers=adapter.headers(api_key, provider.base_url),
        map_status=False,
    )
    url = adapter.url(provider.base_url, provider.model)
    body = adapter.body(
        model=provider.model, question=question, wire_schema=wire_schema(question.schema)
    )
    retries = settings.FIXOPS_ADVISORY_RETRIES
    max_wait = settings.FIXOPS_ADVISORY_MAX_RETRY_WAIT
    with session:
        for attempt in range(retries + 1):
            response = _post(session, url, body)
            if response.status_code < 300:
                return _read(adapter, question, response)
            error = f"HTTP {response.status_code}: {adapter.error_text(response)}"
            if response.status_code not in RETRY_STATUSES:
                raise _Outcome(AnswerStatus.FAILED, error)
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is None:
                wait = adapter.retry_after(response)
            if attempt == retries or (wait is not None and wait > max_wait):
                status = (
                    AnswerStatus.RATE_LIMITED
                    if response.status_code == 429
                    else AnswerStatus.FAILED
                )
                raise _Outcome(status, f"{error} (after {attempt + 1} attempt(s))", transient=True)
            delay = backoff_delay(attempt, base=1.0, retry_after=wait)
            logger.warning(
                "advisory provider busy, retrying",
                extra={"provider": provider.pk, "status": response.status_code, "wait": delay},
            )
            time.sleep(delay + random.uniform(0, delay / 10))  # noqa: S311 - jitter
    raise AssertionError("unreachable")  # pragma: no cover


def _post(session, url: str, body: dict) -> requests.Response:
    try:
        return session.post(url, json=body)
    except TransientError as exc:
        if isinstance(exc.__cause__, requests.exceptions.Timeout):
            raise _Outcome(AnswerStatus.TIMEOUT, str(exc)) from exc
        raise _Outcome(AnswerStatus.FAILED, str(exc), transient=True) from exc
    except OutboundError as exc:
        raise _Outcome(AnswerStatus.FAILED, str(exc)) from exc


def _read(adapter, question: Question, response: requests.Response) -> tuple[dict, tuple[int, int]]:
    try:
        payload = response.json()
        reply = adapter.read(payload)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise _Outcome(
            AnswerStatus.FAILED, f"unreadable {adapter.kind} response envelope ({exc!r:.200})"
        ) from exc
    tokens = (reply.tokens_in, reply.tokens_out)
    if reply.error:
        raise _Outcome(AnswerStatus.FAILED, reply.error, tokens=tokens)
    if reply.off_schema:
        raise _Outcome(AnswerStatus.OFF_SCHEMA, reply.off_schema, tokens=tokens)
    output = reply.output
    if isinstance(output, str):
        try:
            output = json.loads(output)
        except ValueError:
            raise _Outcome(
                AnswerStatus.OFF_SCHEMA, "the answer is not JSON", tokens=tokens
            ) from None
    if not isinstance(output, dict):
        raise _Outcome(AnswerStatus.OFF_SCHEMA, "the answer is not a JSON object", tokens=tokens)
    errors = validation_errors(question.schema, output)
    if errors:
        raise _Outcome(
            AnswerStatus.OFF_SCHEMA, "off schema: " + "; ".join(errors[:5]), tokens=tokens
        )
    return output, tokens
