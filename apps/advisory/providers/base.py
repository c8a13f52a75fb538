"""What every provider adapter shares: the question, the answer, and the adapter interface.

An adapter only speaks its vendor's wire format (request body, where the answer is, usage,
error text); asking (budget, breaker, retries, validation, usage) is in apps/advisory/asking.py
and is the same for every vendor.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import requests


class AnswerStatus:
    OK = "ok"
    FAILED = "failed"  # vendor error, refusal, truncation, unreadable envelope, breaker open
    OFF_SCHEMA = "off_schema"  # the model's output is not JSON or does not match the schema
    OVER_BUDGET = "over_budget"  # skipped: the provider's daily token budget is spent
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"  # still 429 after honouring Retry-After

    ALL: ClassVar[tuple[str, ...]] = (
        OK,
        FAILED,
        OFF_SCHEMA,
        OVER_BUDGET,
        TIMEOUT,
        RATE_LIMITED,
    )


@dataclass(frozen=True)
class Question:
    """One structured question, already redacted: what leaves FixOps is exactly `system` plus
    the user turn in `redacted_text`, asking for JSON matching `schema`."""

    task: str  # "triage" | "brief"
    system: str  # the fixed instruction (never holds scanner-provided text)
    data: dict  # the redacted, quoted data the user turn carries
    schema: dict  # the task's published JSON schema (validated locally on every answer)
    schema_name: str  # e.g. "fixops_triage" (OpenAI json_schema.name, Anthropic tool name)
    digest: str  # sha256 of what is sent (system, user turn, schema), for audit
    redacted_text: str  # the user turn exactly as sent


@dataclass
class ProviderAnswer:
    """What one provider answered (never raised: vendor trouble is a status)."""

    provider_id: int
    provider_name: str
    kind: str
    model: str
    ok: bool
    data: dict | None
    error: str
    status: str  # one of AnswerStatus.ALL
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    latency_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (for advice rows and evidence)."""
        return {
            "provider_id": self.provider_id,
            "provider_name": self.provider_name,
            "kind": self.kind,
            "model": self.model,
            "ok": self.ok,
            "data": self.data,
            "error": self.error,
            "status": self.status,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost": self.cost,
            "latency_ms": self.latency_ms,
        }


@dataclass
class Reply:
    """An adapter's reading of a 2xx answer: the model's JSON text or object, or why none."""

    output: str | dict | None
    tokens_in: int = 0
    tokens_out: int = 0
    error: str = ""  # refusal, truncation, block: a failed answer
    off_schema: str = ""  # answered outside the structured-output mechanism
    extra: dict = field(default_factory=dict)


class Adapter(ABC):
    """One vendor's wire format."""

    kind: ClassVar[str]

    @abstractmethod
    def url(self, base_url: str, model: str) -> str:
        """The endpoint to POST to."""

    @abstractmethod
    def headers(self, api_key: str, base_url: str) -> dict[str, str]:
        """Authentication and version headers."""

    @abstractmethod
    def body(self, *, model: str, question: Question, wire_schema: dict) -> dict:
        """The request body, asking for JSON by the vendor's structured-output mechanism."""

    @abstractmethod
    def read(self, payload: Any) -> Reply:
        """The answer from a 2xx JSON body; ValueError when the envelope is not the vendor's."""

    def error_text(self, response: requests.Response) -> str:
        """The vendor's own error message from a non-2xx answer."""
        try:
            payload = response.json()
        except ValueError:
            return response.text[:300]
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict):
            return str(error.get("message") or error.get("type") or error)[:300]
        return str(payload)[:300]

    def retry_after(self, response: requests.Response) -> float | None:
        """Vendor-specific wait hints besides Retry-After (none by default)."""
        return None
