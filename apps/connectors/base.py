"""The one small interface every vendor connector implements.

The outbox only ever talks to a `Connector`: it builds a `Ticket` (what the remote object
should say), calls create / update / transition / comment / find_by_reference, stores the
`RemoteRef` it gets back, and classifies failures by the two error classes of the platform's
outbound HTTP (fixops/platform/http/errors.py) — `TransientError` (retry later, honouring
`retry_after`) and `PermanentError` (dead letter with the vendor's own message).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from apps.connectors.inbound.mapping import INBOUND_FIELDS, INBOUND_KINDS, status_map_error
from apps.connectors.schema import SETTINGS, ConfigField, type_error
from fixops.platform.http.errors import PermanentError

SEVERITIES = ("critical", "high", "medium", "low", "info")
STATUSES = ("open", "closed")


@dataclass(frozen=True)
class Ticket:
    """What the remote object should say."""

    reference: str  # our stable reference, stamped on the remote object
    title: str
    body: str  # plain text / light markdown; each vendor mapping converts it
    severity: str = "medium"  # critical | high | medium | low | info
    labels: tuple[str, ...] = ()
    status: str = "open"  # open | closed
    url: str = ""  # link back to FixOps
    extra: dict = field(default_factory=dict)  # vendor specifics (GitHub check run, ...)


@dataclass(frozen=True)
class RemoteRef:
    """Where the remote object lives."""

    id: str  # vendor id (issue id, sys_id, iid, work item id, message ts, page id)
    key: str = ""  # human key (PROJ-12, INC0010001, #12)
    url: str = ""
    status: str = ""  # remote status as the vendor names it
    version: int | None = None  # Confluence page version, etc.
    extra: dict = field(default_factory=dict)  # e.g. Slack channel


class Connector(ABC):
    """Base class of the vendor connectors (one subclass per `kind`)."""

    kind: ClassVar[str]
    # Every credential and setting this kind reads (apps/connectors/schema.py): required
    # settings and types are checked from it, and the admin builds its form from it.
    fields: ClassVar[tuple[ConfigField, ...]] = ()
    # Credential field sets accepted by this kind (any one set must be complete).
    credential_sets: ClassVar[tuple[tuple[str, ...], ...]] = ()
    base_url_help: ClassVar[str] = ""
    # False for kinds that never connect to base_url (e-mail): it is not vetted by the SSRF
    # guard then, since nothing is sent there.
    base_url_used: ClassVar[bool] = True

    def __init__(
        self,
        *,
        base_url: str,
        credentials: dict,
        settings: dict,
        timeout: tuple[float, float] = (5.0, 30.0),
    ) -> None:
        self.base_url = (base_url or "").rstrip("/")
        self.credentials = dict(credentials or {})
        self.settings = dict(settings or {})
        self.timeout = timeout
        errors = self.validate(self.credentials, self.settings)
        if errors:
            problems = "; ".join(f"{k}: {v}" for k, v in sorted(errors.items()))
            raise PermanentError(f"invalid {self.kind} configuration: {problems}")

    @classmethod
    def inbound(cls) -> bool:
        """Whether the kind's webhooks are applied (its settings then include the inbound
        ones: status_map, own_account, inbound_comments, acceptance_days)."""
        return cls.kind in INBOUND_KINDS

    @classmethod
    def all_fields(cls) -> tuple[ConfigField, ...]:
        """The kind's own fields, then the inbound settings every receiving kind shares."""
        return cls.fields + (INBOUND_FIELDS if cls.inbound() else ())

    @classmethod
    def validate(cls, credentials: dict, settings: dict) -> dict[str, str]:
        """Field -> error for a configuration of this kind ({} when valid)."""
        errors: dict[str, str] = {}
        if not isinstance(credentials, dict):
            return {"credentials": "must be an object"}
        if not isinstance(settings, dict):
            return {"settings": "must be an object"}
        if cls.credential_sets and not any(
            all(_filled(credentials.get(f)) for f in fields) for fields in cls.credential_sets
        ):
            wanted = " or ".join("{" + ", ".join(fields) + "}" for fields in cls.credential_sets)
            errors["credentials"] = f"{cls.kind} needs {wanted}"
        for spec in cls.all_fields():
            value = (settings if spec.where == SETTINGS else credentials).get(spec.name)
            if spec.required and spec.where == SETTINGS and not _filled(value):
                errors[spec.key] = "required"
            elif value is not None and (problem := type_error(spec, value)):
                errors[spec.key] = problem
        problem = status_map_error(settings.get("status_map")) if cls.inbound() else None
        if problem and "settings.status_map" not in errors:
            errors["settings.status_map"] = problem
        return errors

    @classmethod
    def issue_credentials(cls, credentials: dict) -> dict[str, str]:
        """Credentials FixOps generates for a new integration of this kind when they are not
        given (a signed webhook's secret): stored, and shown once to whoever created it."""
        return {}

    @abstractmethod
    def test_connection(self) -> str:
        """Check the credentials; a short description of who we are, e.g. "authenticated as …"."""

    @abstractmethod
    def create(self, ticket: Ticket) -> RemoteRef:
        """Create the remote object, stamped with `ticket.reference`."""

    @abstractmethod
    def update(self, ref: RemoteRef, ticket: Ticket) -> RemoteRef:
        """Make the remote object say what `ticket` says (title, body, labels, status)."""

    @abstractmethod
    def transition(self, ref: RemoteRef, status: str) -> RemoteRef:
        """Move the remote object to "open" or "closed"."""

    @abstractmethod
    def comment(self, ref: RemoteRef, body: str) -> None:
        """Add a comment to the remote object."""

    @abstractmethod
    def find_by_reference(self, reference: str) -> RemoteRef | None:
        """The remote object carrying `reference`, or None (idempotency look-up)."""


def _filled(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def check_status(status: str) -> str:
    """Validate a FixOps ticket status ("open" | "closed")."""
    if status not in STATUSES:
        raise PermanentError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
    return status
