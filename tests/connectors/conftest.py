"""Fixtures of the outbox tests: fake vendor servers and integrations pointing at them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from apps.connectors.services import integration_create
from tests.fakes.fixtures import *  # noqa: F403


@pytest.fixture
def make_integration(db) -> Callable:
    """make_integration(tenant, fake, name=..., **fields) -> Integration configured through
    the service (so the SSRF guard and the kind's validation run)."""

    def make(tenant, fake, *, name: str | None = None, settings: dict | None = None, **fields):
        config = fake.config(**(settings or {}))
        return integration_create(
            tenant=tenant,
            kind=config["kind"],
            name=name or f"{config['kind']}-{fake.url.rsplit(':', 1)[1]}",
            base_url=config["base_url"],
            credentials=config["credentials"],
            settings=config["settings"],
            **fields,
        )

    return make
