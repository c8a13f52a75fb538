"""Domain errors: what services raise when they refuse a request.

Each carries a stable machine-readable `code`, a message for people and optional `details`
(field errors, limits, pointers). The kind of refusal is the class; the API layer maps it to an
HTTP status (fixops/platform/api/errors.py), the admin shows the message, commands print it.
Services never raise DRF exceptions, so they stay usable from tasks, commands and the admin.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal with a stable code; the base of every kind below."""

    code = "bad_request"
    default_message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, code: str | None = None, details: Any = None):
        self.message = message or self.default_message
        self.code = code or self.code
        self.details = details
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class Invalid(DomainError):
    """The input is wrong: a field, a report, a value out of range."""

    code = "invalid"


class Forbidden(DomainError):
    """The caller may not do this (role, scope, separation of duties)."""

    code = "permission_denied"


class NotFound(DomainError):
    """The thing named does not exist for this caller (or belongs to another tenant)."""

    code = "not_found"
    default_message = "Not found."


class Conflict(DomainError):
    """The current state forbids it: a duplicate, a transition not allowed, a pending object."""

    code = "conflict"


class TooLarge(DomainError):
    """The input exceeds a configured limit."""

    code = "too_large"


class UpstreamFailed(DomainError):
    """A system FixOps depends on (a vendor, an OPA server) answered with an error."""

    code = "upstream_failed"


class Unavailable(DomainError):
    """A dependency of FixOps (storage, a broker) cannot be reached right now; retry later."""

    code = "unavailable"
