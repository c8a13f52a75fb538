"""Anthropic Messages with a single forced tool as the structured-output mechanism.

Contract (llm-and-channels.md §2.4, from anthropics/anthropic-sdk-python):
- POST {base_url}/v1/messages; headers `x-api-key`, `anthropic-version: 2023-06-01`.
- Body: `model`, `max_tokens`, top-level `system`, `messages` (user turn only), one tool
  `{name, description, input_schema}` and `tool_choice: {type: "tool", name,
  disable_parallel_tool_use: true}`: the model must answer by "calling" it, and the call's
  `input` is the answer. The tool is never executed: it is only the output mechanism.
- Answer: the `content[]` block with `type: "tool_use"` and that name; its `input` is an object.
  `stop_reason` refusal or max_tokens means no valid answer. Usage: `usage.input_tokens`,
  `usage.output_tokens`. Errors: `{"type": "error", "error": {"type", "message"}}`; 529 means
  overloaded.
"""

from __future__ import annotations

from typing import Any

from apps.advisory.providers._urls import join
from apps.advisory.providers.base import Adapter, Question, Reply

API_VERSION = "2023-06-01"
MAX_TOKENS = 2048  # an answer is a few hundred tokens; far below the SDK's 21.3k streaming bar


class AnthropicAdapter(Adapter):
    kind = "anthropic"

    def url(self, base_url: str, model: str) -> str:
        return join(base_url, "/v1/messages")

    def headers(self, api_key: str, base_url: str) -> dict[str, str]:
        return {"x-api-key": api_key, "anthropic-version": API_VERSION}

    def body(self, *, model: str, question: Question, wire_schema: dict) -> dict:
        return {
            "model": model,
            "max_tokens": MAX_TOKENS,
            "temperature": 0,
            "system": question.system,
            "messages": [{"role": "user", "content": question.redacted_text}],
            "tools": [
                {
                    "name": question.schema_name,
                    "description": "Record the answer. Its input is the whole answer.",
                    "input_schema": wire_schema,
                }
            ],
            "tool_choice": {
                "type": "tool",
                "name": question.schema_name,
                "disable_parallel_tool_use": True,
            },
        }

    def read(self, payload: Any) -> Reply:
        usage = payload.get("usage") or {}
        reply = Reply(
            output=None,
            tokens_in=int(usage.get("input_tokens") or 0),
            tokens_out=int(usage.get("output_tokens") or 0),
        )
        stop = payload.get("stop_reason")
        if stop in ("refusal", "max_tokens", "model_context_window_exceeded"):
            reply.error = f"no complete answer (stop_reason {stop})"
            return reply
        uses = [
            b for b in payload["content"] if isinstance(b, dict) and b.get("type") == "tool_use"
        ]
        if len(uses) != 1:
            # Text instead of the forced tool, or several calls: not the schema's answer.
            reply.off_schema = f"expected one tool_use block, got {len(uses)}"
            return reply
        reply.output = uses[0].get("input")
        reply.extra["tool_name"] = uses[0].get("name")
        return reply
