"""Workspace fixtures: signed evidence (tests/evidence) and the fake vendors (tests/fakes)."""

from tests.evidence.conftest import evidence_settings, signing_key_file  # noqa: F401
