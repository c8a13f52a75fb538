"""OpenAI Chat Completions, and everything that speaks it (Azure OpenAI, vLLM, Ollama,
llama.cpp's server).

Contract (llm-and-channels.md §2.1–2.3, from openai/openai-python's types):
- POST {base_url}/chat/completions; `Authorization: Bearer <key>`; Azure (*.openai.azure.com)
  takes `api-key: <key>` and the base URL `…/openai/deployments/<deployment>?api-version=…`.
- Structured output: `response_format: {type: json_schema, json_schema: {name, schema,
  strict: true}}` (llama.cpp and Ollama read `json_schema.schema`; vLLM the same body).
- Answer: `choices[0].message.content`, a JSON string; `message.refusal` set, or
  `finish_reason` length/content_filter, means no valid answer. Usage: `usage.prompt_tokens`,
  `usage.completion_tokens`. Errors: `{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

from typing import Any

from apps.advisory.providers._urls import host, join
from apps.advisory.providers.base import Adapter, Question, Reply


class OpenAIAdapter(Adapter):
    kind = "openai"

    def url(self, base_url: str, model: str) -> str:
        return join(base_url, "/chat/completions")

    def headers(self, api_key: str, base_url: str) -> dict[str, str]:
        if host(base_url).endswith(".openai.azure.com"):
            return {"api-key": api_key}
        # Local servers (Ollama, llama.cpp) ignore the key; a placeholder keeps the header form.
        return {"Authorization": f"Bearer {api_key or 'none'}"}

    def body(self, *, model: str, question: Question, wire_schema: dict) -> dict:
        return {
            "model": model,
            "messages": [
                # "system" rather than "developer": every compatible server reads it, and
                # OpenAI maps it for the models that prefer "developer".
                {"role": "system", "content": question.system},
                {"role": "user", "content": question.redacted_text},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": question.schema_name,
                    "schema": wire_schema,
                    "strict": True,
                },
            },
            "temperature": 0,
            "stream": False,
        }

    def read(self, payload: Any) -> Reply:
        choice = payload["choices"][0]
        message = choice["message"]
        usage = payload.get("usage") or {}
        reply = Reply(
            output=None,
            tokens_in=int(usage.get("prompt_tokens") or 0),
            tokens_out=int(usage.get("completion_tokens") or 0),
        )
        if message.get("refusal"):
            reply.error = f"refused: {str(message['refusal'])[:200]}"
        elif choice.get("finish_reason") in ("length", "content_filter"):
            reply.error = f"no complete answer (finish_reason {choice['finish_reason']})"
        else:
            reply.output = message.get("content")
        return reply
