"""Platform tables, one module each."""

from fixops.platform.models.breaker import Breaker
from fixops.platform.models.event import Event

__all__ = ["Breaker", "Event"]
