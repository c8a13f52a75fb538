"""pytest fixtures starting the fake vendor servers (one fresh server per test).

Use them from a conftest.py with `from tests.fakes.fixtures import *  # noqa: F403`, or import
the ones you need. Every fake offers `.config(**settings)` -> {"kind", "base_url",
"credentials", "settings"} for an integration pointing at it, and `connector(fake)` below builds
the Connector.
"""

from __future__ import annotations

import pytest

from apps.connectors.base import Connector
from apps.connectors.registry import connector_for
from tests.fakes.azure_devops import FakeAzureDevOps
from tests.fakes.confluence import FakeConfluence
from tests.fakes.github import FakeGitHub
from tests.fakes.gitlab import FakeGitLab
from tests.fakes.jira import FakeJira
from tests.fakes.servicenow import FakeServiceNow
from tests.fakes.slack import FakeSlack


def connector(fake, *, timeout: tuple[float, float] = (2.0, 5.0), **settings) -> Connector:
    """A Connector configured against `fake` (settings overrides as keyword arguments)."""
    cfg = fake.config(**settings)
    return connector_for(
        cfg["kind"],
        base_url=cfg["base_url"],
        credentials=cfg["credentials"],
        settings=cfg["settings"],
        timeout=timeout,
    )


@pytest.fixture
def fake_jira():
    with FakeJira(deployment="cloud") as fake:
        yield fake


@pytest.fixture
def fake_jira_dc():
    with FakeJira(deployment="datacenter") as fake:
        yield fake


@pytest.fixture
def fake_servicenow():
    with FakeServiceNow() as fake:
        yield fake


@pytest.fixture
def fake_gitlab():
    with FakeGitLab() as fake:
        yield fake


@pytest.fixture
def fake_github():
    with FakeGitHub() as fake:
        yield fake


@pytest.fixture
def fake_azure_devops():
    with FakeAzureDevOps() as fake:
        yield fake


@pytest.fixture
def fake_slack():
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def fake_confluence():
    with FakeConfluence(deployment="cloud") as fake:
        yield fake
