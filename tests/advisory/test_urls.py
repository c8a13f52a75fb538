"""Where each kind sends its request, from the configured base URL (Azure's deployment URL and
api-version query included)."""

from __future__ import annotations

from apps.advisory.providers import adapter_for


def test_openai_compatible_urls_and_auth():
    openai = adapter_for("openai")
    assert openai.url("https://api.openai.com/v1", "gpt-4o") == (
        "https://api.openai.com/v1/chat/completions"
    )
    assert openai.url("http://ollama:11434/v1/", "llama3.1") == (
        "http://ollama:11434/v1/chat/completions"
    )
    assert openai.headers("k", "https://api.openai.com/v1") == {"Authorization": "Bearer k"}


def test_azure_keeps_the_api_version_and_uses_its_key_header():
    openai = adapter_for("openai")
    base = "https://acme.openai.azure.com/openai/deployments/gpt4o?api-version=2024-10-21"
    assert openai.url(base, "gpt-4o") == (
        "https://acme.openai.azure.com/openai/deployments/gpt4o/chat/completions"
        "?api-version=2024-10-21"
    )
    assert openai.headers("k", base) == {"api-key": "k"}


def test_anthropic_and_gemini_urls():
    assert adapter_for("anthropic").url("https://api.anthropic.com", "claude") == (
        "https://api.anthropic.com/v1/messages"
    )
    gemini = adapter_for("gemini")
    assert gemini.url("https://generativelanguage.googleapis.com/v1beta", "gemini-2.5-flash") == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    )
    # A model name cannot add path segments or a query.
    assert gemini.url("https://g.example/v1beta", "x/../y?key=1").endswith(
        "/models/x%2F..%2Fy%3Fkey%3D1:generateContent"
    )
