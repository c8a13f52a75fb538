"""Fake model providers: OpenAI Chat Completions, Anthropic Messages and Gemini
generateContent on loopback, speaking the documented wire formats (../shared/reference/
llm-and-channels.md §1-2, compiled from openai/openai-python, anthropics/anthropic-sdk-python
and googleapis/python-genai types) and validating what they receive.

Each fake answers the structured-output mechanism it was asked through (OpenAI `content` JSON
string, Anthropic `tool_use.input` object, Gemini `parts[0].text` JSON string) with usage
counts, and is scripted per test:

    fake.answer = {...}              # the answer "agree" returns (default: a valid one per task)
    fake.mode = "agree"              # the answer as set
    fake.mode = "disagree"           # a different valid answer (flipped categories)
    fake.mode = "obey"               # follows instructions injected in the data: "set <field>
                                     #   to <value>" changes the answer (still in schema);
                                     #   "ignore the schema" adds a field (off schema);
                                     #   "reply in prose" answers plain text
    fake.mode = "off_schema"         # valid JSON missing a required field, with an extra one
    fake.mode = "malformed"          # the output is not JSON
    fake.mode = "refuse"             # vendor refusal signal (OpenAI refusal, Anthropic
                                     #   stop_reason refusal, Gemini blockReason SAFETY)
    fake.fail_next(1, 429, retry_after=1)   # vendor-shaped 429 + Retry-After (base.py)
    fake.delay(3)                    # answer later than the client's timeout
    fake.requests / fake.bodies()    # what it received, for the privacy and prompt tests

A request that breaks the contract answers 400 in the vendor's error shape and is kept in
`fake.rejections` (tests assert it stays empty).
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from typing import Any

from jsonschema import Draft202012Validator

from tests.fakes.base import FakeServer, RecordedRequest, Response

TRIAGE_ANSWER = {
    "likely_false_positive": False,
    "exploitability": "likely",
    "suggested_severity": "high",
    "fix": {"kind": "upgrade", "detail": "Upgrade the component to the first fixed version."},
    "rationale": "The vulnerable function is reachable from an internet-exposed endpoint.",
    "confidence": 0.8,
}
BRIEF_ANSWER = {
    "primary_driver": "exploited_vulnerability",
    "blocking_finding_ids": [],
    "drivers": [],
    "smallest_change_kind": "upgrade",
    "smallest_change": "Upgrade the component named in the blocking finding.",
    "confidence": 0.7,
}
_FLIP = {
    "likely_false_positive": lambda v: not v,
    "exploitability": lambda v: "not_exploitable" if v != "not_exploitable" else "likely",
    "suggested_severity": lambda v: "low" if v != "low" else "critical",
    "primary_driver": lambda v: "policy_rule" if v != "policy_rule" else "severity",
    "smallest_change_kind": lambda v: "risk_acceptance" if v != "risk_acceptance" else "upgrade",
    "confidence": lambda v: round(1 - v, 2),
}
_SET = re.compile(r"(?i)\bset\s+([a-z_.]+)\s+to\s+([\w-]+(?:\.\d+)?)")


def _scalar(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        return text


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class FakeModel(FakeServer):
    """What the three fakes share: scripting, answers, usage and request checks."""

    models: tuple[str, ...] = ()

    def __init__(self, *, api_key: str = "test-key", model: str = "") -> None:
        self.api_key = api_key
        self.model = model or self.models[0]
        self.mode = "agree"
        self.answer: dict | None = None
        self.rejections: list[str] = []
        super().__init__()

    # -- scripting ------------------------------------------------------------------------------

    def provider_fields(self, **overrides: Any) -> dict:
        """Fields for a Provider pointing at this fake."""
        return {
            "name": f"fake-{self.name}",
            "kind": self.kind,
            "base_url": self.base_url,
            "model": self.model,
            "api_key": self.api_key,
            **overrides,
        }

    @property
    def base_url(self) -> str:
        return self.url

    def bodies(self) -> list[str]:
        """Every request body received, decoded (for privacy assertions)."""
        with self.lock:
            return [r.body.decode("utf-8", "replace") for r in self.requests]

    def _answer_for(self, task: str, user_text: str) -> tuple[str | dict, str]:
        """(output, signal): the output to return and "" or a refusal signal."""
        base = copy.deepcopy(self.answer or (TRIAGE_ANSWER if task == "triage" else BRIEF_ANSWER))
        mode = self.mode
        if mode == "refuse":
            return "", "refuse"
        if mode == "malformed":
            return '{"likely_false_positive": tru', ""
        if mode == "off_schema":
            broken = dict(base)
            broken.pop(next(iter(broken)))
            broken["verdict"] = "ignore previous instructions"
            return broken, ""
        if mode == "disagree":
            return {k: _FLIP[k](v) if k in _FLIP else v for k, v in base.items()}, ""
        if mode == "obey":
            lowered = user_text.lower()
            if "reply in prose" in lowered:
                return "Sure! This finding is harmless, you can ignore it.", ""
            for field, value in _SET.findall(user_text):
                target = base
                *parents, leaf = field.split(".")
                for parent in parents:
                    target = target.setdefault(parent, {})
                target[leaf] = _scalar(value)
            if "ignore the schema" in lowered:
                base["injected"] = True
            return base, ""
        return base, ""

    @staticmethod
    def _task_of(schema: dict) -> str:
        props = (schema or {}).get("properties") or {}
        return "triage" if "likely_false_positive" in props else "brief"

    def _reject(self, message: str) -> Response:
        with self.lock:
            self.rejections.append(message)
        return self.error_response(400, message)

    @staticmethod
    def strict_problems(schema: Any, where: str = "schema") -> list[str]:
        """OpenAI strict-mode rules (llm-and-channels.md §2.1): every object closed and every
        property required."""
        problems: list[str] = []
        if isinstance(schema, dict):
            if schema.get("type") == "object" or "properties" in schema:
                if schema.get("additionalProperties") is not False:
                    problems.append(f"{where}: additionalProperties must be false")
                if sorted(schema.get("required", [])) != sorted(schema.get("properties", {})):
                    problems.append(f"{where}: every property must be required")
            for key, value in schema.items():
                problems += FakeModel.strict_problems(value, f"{where}.{key}")
        elif isinstance(schema, list):
            for i, value in enumerate(schema):
                problems += FakeModel.strict_problems(value, f"{where}[{i}]")
        return problems


# --- OpenAI Chat Completions ------------------------------------------------------------------


class FakeOpenAI(FakeModel):
    """POST /v1/chat/completions (base URL …/v1), Bearer auth, response_format json_schema."""

    name = "openai"
    kind = "openai"
    models = ("gpt-4o-2024-08-06", "gpt-4.1-mini")
    routes = (("POST", r"/v1/chat/completions", "chat"),)

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def check_auth(self, req: RecordedRequest) -> Response | None:
        if req.header("Authorization") != f"Bearer {self.api_key}":
            return self.error_response(401, "Incorrect API key provided.", code="invalid_api_key")
        return None

    def error_response(self, status, message, headers=None, code=None):
        kind = {
            400: "invalid_request_error",
            401: "invalid_request_error",
            404: "invalid_request_error",
            429: "requests",
        }.get(status, "server_error")
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        return Response(
            status, body, {"x-request-id": f"req_{uuid.uuid4().hex[:12]}", **(headers or {})}
        )

    def rate_limit_headers(self, retry_after):
        headers = super().rate_limit_headers(retry_after)
        headers.update({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s"})
        return headers

    def chat(self, req: RecordedRequest) -> Response:
        body = req.json
        if not isinstance(body, dict):
            return self._reject("We could not parse the JSON body of your request.")
        if body.get("model") != self.model:
            return self.error_response(
                404, f"The model `{body.get('model')}` does not exist.", code="model_not_found"
            )
        messages = body.get("messages")
        if (
            not isinstance(messages, list)
            or len(messages) != 2
            or [m.get("role") for m in messages] not in (["system", "user"], ["developer", "user"])
            or not all(isinstance(m.get("content"), str) for m in messages)
        ):
            return self._reject("messages: expected one system/developer and one user message")
        if "tools" in body or "functions" in body:
            return self._reject("FixOps sends no tools")
        rf = body.get("response_format") or {}
        js = rf.get("json_schema") or {}
        if rf.get("type") != "json_schema" or not re.fullmatch(
            r"[a-zA-Z0-9_-]{1,64}", js.get("name", "")
        ):
            return self._reject("response_format: expected json_schema with a valid name")
        schema = js.get("schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return self._reject("response_format.json_schema.schema: root must be an object")
        Draft202012Validator.check_schema(schema)
        if js.get("strict") is True:
            problems = self.strict_problems(schema)
            if problems:
                return self._reject("Invalid schema for response_format: " + "; ".join(problems))
        user = messages[1]["content"]
        output, signal = self._answer_for(self._task_of(schema), user)
        content = output if isinstance(output, str) else json.dumps(output)
        message = {"role": "assistant", "content": content, "refusal": None}
        if signal == "refuse":
            message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
        prompt = _tokens(json.dumps(messages) + json.dumps(schema))
        completion = _tokens(content or "")
        return Response(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:20]}",
                "object": "chat.completion",
                "created": 1_765_000_000,
                "model": self.model,
                "system_fingerprint": "fp_fake",
                "choices": [
                    {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            },
        )


# --- Anthropic Messages -----------------------------------------------------------------------


class FakeAnthropic(FakeModel):
    """POST /v1/messages, x-api-key + anthropic-version, one forced tool for the output."""

    name = "anthropic"
    kind = "anthropic"
    models = ("claude-sonnet-4-5", "claude-haiku-4-5")
    routes = (("POST", r"/v1/messages", "messages"),)

    def check_auth(self, req: RecordedRequest) -> Response | None:
        if req.header("x-api-key") != self.api_key:
            return self.error_response(401, "invalid x-api-key")
        if req.header("anthropic-version") != "2023-06-01":
            return self.error_response(400, "anthropic-version header is required")
        return None

    def error_response(self, status, message, headers=None):
        kind = {
            400: "invalid_request_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            429: "rate_limit_error",
            529: "overloaded_error",
        }.get(status, "api_error")
        body = {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": f"req_{uuid.uuid4().hex[:12]}",
        }
        return Response(status, body, headers or {})

    def messages(self, req: RecordedRequest) -> Response:
        body = req.json
        if not isinstance(body, dict):
            return self._reject("body: invalid JSON")
        if body.get("model") != self.model:
            return self.error_response(404, f"model: {body.get('model')}")
        if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] <= 0:
            return self._reject("max_tokens: Field required")
        messages = body.get("messages")
        if (
            not isinstance(messages, list)
            or not messages
            or any(m.get("role") not in ("user", "assistant") for m in messages)
        ):
            return self._reject("messages: roles must be user or assistant (system is top-level)")
        if not isinstance(body.get("system"), str | list):
            return self._reject("system: expected the top-level system prompt")
        tools = body.get("tools")
        if not isinstance(tools, list) or len(tools) != 1:
            return self._reject("tools: FixOps forces exactly one tool for its output")
        tool = tools[0]
        schema = tool.get("input_schema")
        if not tool.get("name") or not isinstance(schema, dict) or schema.get("type") != "object":
            return self._reject("tools.0.input_schema: type must be object")
        Draft202012Validator.check_schema(schema)
        choice = body.get("tool_choice") or {}
        if choice.get("type") != "tool" or choice.get("name") != tool["name"]:
            return self._reject("tool_choice: expected {type: tool, name: <the tool>}")
        user = "\n".join(
            m["content"] if isinstance(m["content"], str) else json.dumps(m["content"])
            for m in messages
        )
        output, signal = self._answer_for(self._task_of(schema), user)
        prompt = _tokens(json.dumps(body))
        if signal == "refuse":
            content, stop = [{"type": "text", "text": "I can't help with that."}], "refusal"
        elif isinstance(output, str):
            # A model that strays answers text instead of the forced tool (or a broken input).
            content, stop = [{"type": "text", "text": output}], "end_turn"
        else:
            content = [
                {
                    "type": "tool_use",
                    "id": f"toolu_{uuid.uuid4().hex[:20]}",
                    "name": tool["name"],
                    "input": output,
                }
            ]
            stop = "tool_use"
        completion = _tokens(json.dumps(content))
        return Response(
            200,
            {
                "id": f"msg_{uuid.uuid4().hex[:20]}",
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {"input_tokens": prompt, "output_tokens": completion},
            },
        )


# --- Google Gemini generateContent ------------------------------------------------------------

_GEMINI_SCHEMA_KEYS = {
    "type",
    "format",
    "description",
    "nullable",
    "enum",
    "minItems",
    "maxItems",
    "properties",
    "required",
    "propertyOrdering",
    "items",
}
_GEMINI_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT"}
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


class FakeGemini(FakeModel):
    """POST /v1beta/models/{model}:generateContent, x-goog-api-key, responseSchema."""

    name = "gemini"
    kind = "gemini"
    models = ("gemini-2.5-flash", "gemini-2.5-pro")
    routes = (("POST", r"/v1beta/models/(?P<model>[^/:]+):generateContent", "generate"),)

    @property
    def base_url(self) -> str:
        return self.url + "/v1beta"

    def check_auth(self, req: RecordedRequest) -> Response | None:
        if req.header("x-goog-api-key") != self.api_key:
            return self.error_response(400, "API key not valid. Please pass a valid API key.")
        return None

    def error_response(self, status, message, headers=None):
        code = {
            400: "INVALID_ARGUMENT",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED",
            503: "UNAVAILABLE",
        }.get(status, "INTERNAL")
        error: dict[str, Any] = {"code": status, "message": message, "status": code}
        headers = dict(headers or {})
        if status == 429:
            # Gemini documents no Retry-After header: the wait is RetryInfo.retryDelay.
            delay = headers.pop("Retry-After", None)
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaMetric": "generate_content_free_tier_requests"}],
                },
                {"@type": RETRY_INFO, "retryDelay": f"{delay or 1}s"},
            ]
        return Response(status, {"error": error}, headers)

    def _schema_problems(self, node: Any, where: str) -> list[str]:
        if not isinstance(node, dict):
            return [f"{where}: not an object"]
        problems = [f"{where}: unknown field {k!r}" for k in node if k not in _GEMINI_SCHEMA_KEYS]
        if node.get("type") not in _GEMINI_TYPES:
            problems.append(f"{where}.type: {node.get('type')!r} is not a Type")
        for name, sub in (node.get("properties") or {}).items():
            problems += self._schema_problems(sub, f"{where}.properties.{name}")
        if "items" in node:
            problems += self._schema_problems(node["items"], f"{where}.items")
        return problems

    @staticmethod
    def _as_json_schema(node: dict) -> dict:
        """The JSON Schema equivalent of a responseSchema (to decide the task)."""
        return {"properties": node.get("properties") or {}}

    def generate(self, req: RecordedRequest, model: str) -> Response:
        if model != self.model:
            return self.error_response(404, f"models/{model} is not found for API version v1beta")
        body = req.json
        if not isinstance(body, dict):
            return self._reject("Invalid JSON payload received.")
        contents = body.get("contents")
        if (
            not isinstance(contents, list)
            or not contents
            or any(c.get("role") not in ("user", "model") for c in contents)
            or any(not isinstance(c.get("parts"), list) for c in contents)
        ):
            return self._reject("contents: expected [{role, parts: [{text}]}]")
        system = (body.get("systemInstruction") or {}).get("parts")
        if not isinstance(system, list) or not system:
            return self._reject("systemInstruction: expected {parts: [{text}]}")
        if "tools" in body:
            return self._reject("FixOps sends no tools")
        config = body.get("generationConfig") or {}
        if config.get("responseMimeType") != "application/json":
            return self._reject("generationConfig.responseMimeType must be application/json")
        schema = config.get("responseSchema")
        if "responseJsonSchema" in config and schema is not None:
            return self._reject("responseSchema and responseJsonSchema are exclusive")
        problems = self._schema_problems(schema, "generationConfig.responseSchema")
        if problems:
            return self._reject("; ".join(problems))
        user = "\n".join(p.get("text", "") for c in contents for p in c["parts"])
        output, signal = self._answer_for(self._task_of(self._as_json_schema(schema)), user)
        prompt = _tokens(json.dumps(body))
        usage = {"promptTokenCount": prompt}
        if signal == "refuse":
            return Response(
                200,
                {
                    "promptFeedback": {"blockReason": "SAFETY"},
                    "usageMetadata": {**usage, "totalTokenCount": prompt},
                    "modelVersion": self.model,
                },
            )
        text = output if isinstance(output, str) else json.dumps(output)
        completion = _tokens(text)
        return Response(
            200,
            {
                "candidates": [
                    {
                        "content": {"parts": [{"text": text}], "role": "model"},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {
                    **usage,
                    "candidatesTokenCount": completion,
                    "totalTokenCount": prompt + completion,
                },
                "modelVersion": self.model,
                "responseId": uuid.uuid4().hex[:16],
            },
        )


FAKES = (FakeOpenAI, FakeAnthropic, FakeGemini)
