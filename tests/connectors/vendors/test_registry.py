"""The registry: every kind resolves; unknown kinds and bad configurations are refused."""

from __future__ import annotations

import pytest

from apps.connectors.base import Connector
from apps.connectors.registry import KINDS, connector_class, connector_for, validate_config
from fixops.platform.http.errors import PermanentError


def test_every_kind_is_a_connector():
    assert KINDS == (
        "jira",
        "servicenow",
        "gitlab",
        "github",
        "azure_devops",
        "slack",
        "confluence",
    )
    for kind in KINDS:
        cls = connector_class(kind)
        assert issubclass(cls, Connector) and cls.kind == kind


def test_unknown_kind():
    assert validate_config("trello", {}, {}) == {
        "kind": "unknown kind 'trello'; expected one of jira, servicenow, gitlab, github, "
        "azure_devops, slack, confluence"
    }
    with pytest.raises(PermanentError, match="unknown connector kind 'trello'"):
        connector_for("trello", base_url="https://x", credentials={}, settings={})


def test_invalid_configuration_is_refused_at_construction():
    with pytest.raises(
        PermanentError,
        match="invalid gitlab configuration: credentials: .*settings.project: required",
    ):
        connector_for("gitlab", base_url="https://gitlab.com", credentials={}, settings={})
    assert validate_config("github", ["token"], {}) == {"credentials": "must be an object"}
    assert validate_config("github", {"token": "t"}, "repo") == {"settings": "must be an object"}
