"""Platform tables, one module each."""

from fixops.platform.models.event import Event

__all__ = ["Event"]
