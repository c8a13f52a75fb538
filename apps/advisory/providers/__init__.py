"""One adapter per vendor wire format, looked up by the provider's kind."""

from __future__ import annotations

from apps.advisory.providers.anthropic import AnthropicAdapter
from apps.advisory.providers.base import Adapter, AnswerStatus, ProviderAnswer, Question
from apps.advisory.providers.gemini import GeminiAdapter
from apps.advisory.providers.openai import OpenAIAdapter

ADAPTERS: dict[str, Adapter] = {
    a.kind: a for a in (OpenAIAdapter(), AnthropicAdapter(), GeminiAdapter())
}

# Where each kind's vendor lives when the admin leaves base_url to its default.
DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com/v1beta",
}


def adapter_for(kind: str) -> Adapter:
    return ADAPTERS[kind]


__all__ = ["Adapter", "AnswerStatus", "ProviderAnswer", "Question", "adapter_for"]
