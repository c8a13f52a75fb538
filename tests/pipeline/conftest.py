"""The pipeline composes every app: its tests use the fake vendors of the connectors tests."""

from tests.connectors.conftest import make_integration  # noqa: F401
from tests.fakes.fixtures import *  # noqa: F403
