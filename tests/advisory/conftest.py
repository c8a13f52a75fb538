"""Fixtures of the advisory tests: the three fake model providers and providers pointing at
them, configured through the service (so the SSRF guard runs)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from apps.advisory.services import provider_create
from tests.fakes.llm import FakeAnthropic, FakeGemini, FakeOpenAI


@pytest.fixture
def fake_openai():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake_anthropic():
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def fake_gemini():
    with FakeGemini() as fake:
        yield fake


@pytest.fixture(params=["openai", "anthropic", "gemini"])
def fake_model(request):
    """Each of the three fakes in turn."""
    return request.getfixturevalue(f"fake_{request.param}")


@pytest.fixture
def three_fakes(fake_openai, fake_anthropic, fake_gemini):
    return [fake_openai, fake_anthropic, fake_gemini]


@pytest.fixture
def make_provider(db) -> Callable:
    """make_provider(tenant, fake, **fields) -> Provider pointing at the fake."""

    def make(tenant, fake, **fields):
        return provider_create(tenant=tenant, **fake.provider_fields(**fields))

    return make


@pytest.fixture
def advisory_settings(settings):
    """Short retries so the 429 tests stay quick (the waits are the vendor's Retry-After)."""
    settings.FIXOPS_ADVISORY_RETRIES = 1
    settings.FIXOPS_ADVISORY_MAX_RETRY_WAIT = 5
    return settings
