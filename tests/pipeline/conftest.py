"""The pipeline composes every app: its tests use the fake vendors of the connectors tests
and the evidence fixtures (a fresh signing key, local storage)."""

from tests.connectors.conftest import make_integration
from tests.evidence.conftest import evidence_settings, signing_key_file
from tests.fakes.fixtures import *  # noqa: F403

__all__ = ["evidence_settings", "make_integration", "signing_key_file"]
