"""The registry: every kind resolves; unknown kinds and bad configurations are refused."""

from __future__ import annotations

import pytest

from apps.connectors.base import Connector
from apps.connectors.models import Integration
from apps.connectors.registry import (
    KINDS,
    SPECS,
    TRACKER_KINDS,
    connector_class,
    connector_for,
    validate_config,
)
from fixops.platform.http.errors import PermanentError


def test_every_kind_is_a_connector():
    """The registry is the one list: model choices and tracker kinds come from it."""
    assert tuple(spec.kind for spec in SPECS) == KINDS and len(set(KINDS)) == len(KINDS)
    assert Integration._meta.get_field("kind").choices == [(s.kind, s.label) for s in SPECS]
    assert {s.kind for s in SPECS if s.tracker} == TRACKER_KINDS and set(KINDS) > TRACKER_KINDS
    for kind in KINDS:
        cls = connector_class(kind)
        assert issubclass(cls, Connector) and cls.kind == kind


def test_unknown_kind():
    assert validate_config("trello", {}, {}) == {
        "kind": f"unknown kind 'trello'; expected one of {', '.join(KINDS)}"
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
