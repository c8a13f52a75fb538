"""Platform tables, one module each."""

from fixops.platform.models.audit import AuditChainHead, AuditEvent
from fixops.platform.models.breaker import Breaker
from fixops.platform.models.event import Event

__all__ = ["AuditChainHead", "AuditEvent", "Breaker", "Event"]
