"""Google Gemini generateContent with responseSchema.

Contract (llm-and-channels.md §2.5, from googleapis/python-genai):
- POST {base_url}/models/{model}:generateContent (base URL …/v1beta); header `x-goog-api-key`.
- Body: `systemInstruction: {parts: [{text}]}`, `contents: [{role: "user", parts: [{text}]}]`,
  `generationConfig: {temperature, responseMimeType: "application/json", responseSchema}`,
  where responseSchema is the OpenAPI 3.0 subset (type, format, description, nullable, enum,
  minItems, maxItems, properties, required, propertyOrdering, items): `to_response_schema`
  converts the portable JSON schema into it.
- Answer: `candidates[0].content.parts[0].text`, a JSON string; `promptFeedback.blockReason`,
  or a finishReason other than STOP, means no valid answer. Usage:
  `usageMetadata.promptTokenCount`, `usageMetadata.candidatesTokenCount`.
- Errors: `{"error": {"code", "message", "status", "details"}}`; quota is 429
  RESOURCE_EXHAUSTED with `google.rpc.RetryInfo.retryDelay` ("22s") in `details`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from apps.advisory.providers._urls import join
from apps.advisory.providers.base import Adapter, Question, Reply

_KEPT = ("description", "enum", "format", "minItems", "maxItems")
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def to_response_schema(node: dict) -> dict:
    """The OpenAPI-subset form of a portable JSON schema: types as enum names ("OBJECT"),
    ["T", "null"] as `nullable`, property order kept, other keywords dropped."""
    out: dict[str, Any] = {}
    kind = node.get("type")
    if isinstance(kind, list):
        others = [k for k in kind if k != "null"]
        kind = others[0] if others else "string"
        out["nullable"] = True
    if kind:
        out["type"] = str(kind).upper()
    for key in _KEPT:
        if key in node:
            out[key] = node[key]
    if "properties" in node:
        out["properties"] = {k: to_response_schema(v) for k, v in node["properties"].items()}
        out["required"] = list(node.get("required", []))
        out["propertyOrdering"] = list(node["properties"])
    if "items" in node:
        out["items"] = to_response_schema(node["items"])
    return out


class GeminiAdapter(Adapter):
    kind = "gemini"

    def url(self, base_url: str, model: str) -> str:
        return join(base_url, f"/models/{quote(model, safe='')}:generateContent")

    def headers(self, api_key: str, base_url: str) -> dict[str, str]:
        return {"x-goog-api-key": api_key}

    def body(self, *, model: str, question: Question, wire_schema: dict) -> dict:
        return {
            "systemInstruction": {"parts": [{"text": question.system}]},
            "contents": [{"role": "user", "parts": [{"text": question.redacted_text}]}],
            "generationConfig": {
                "temperature": 0,
                "candidateCount": 1,
                "responseMimeType": "application/json",
                "responseSchema": to_response_schema(wire_schema),
            },
        }

    def read(self, payload: Any) -> Reply:
        usage = payload.get("usageMetadata") or {}
        reply = Reply(
            output=None,
            tokens_in=int(usage.get("promptTokenCount") or 0),
            tokens_out=int(usage.get("candidatesTokenCount") or 0),
        )
        blocked = (payload.get("promptFeedback") or {}).get("blockReason")
        if blocked:
            reply.error = f"prompt blocked ({blocked})"
            return reply
        candidate = payload["candidates"][0]
        finish = candidate.get("finishReason")
        if finish not in (None, "STOP"):
            reply.error = f"no complete answer (finishReason {finish})"
            return reply
        reply.output = "".join(p.get("text", "") for p in candidate["content"]["parts"])
        return reply

    def retry_after(self, response: requests.Response) -> float | None:
        try:
            details = response.json()["error"].get("details") or []
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        for detail in details:
            if isinstance(detail, dict) and detail.get("@type") == RETRY_INFO:
                delay = str(detail.get("retryDelay", "")).strip()
                if delay.endswith("s"):
                    try:
                        return max(float(delay[:-1]), 0.0)
                    except ValueError:
                        return None
        return None
