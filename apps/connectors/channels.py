"""Base of the post-only notification channels (Teams, e-mail, signed webhooks).

These channels can deliver a message but never edit or find one again: `create` and `update`
post the ticket (a later notice with the same reference is a new post), `transition` and
`comment` post a short follow-up, and `find_by_reference` finds nothing. A delivery whose
outcome is unknown (the connection dropped after the receiver took it) is therefore posted
again; the signed webhook's stable `webhook-id` lets receivers drop that duplicate.
"""

from __future__ import annotations

from abc import abstractmethod

from apps.connectors.base import Connector, RemoteRef, Ticket, check_status


class PostOnlyConnector(Connector):
    """A channel that can only post (see the module docstring)."""

    @abstractmethod
    def post(self, ticket: Ticket, *, action: str) -> None:
        """Deliver `ticket`; `action` is created, updated, closed, reopened or commented."""

    def create(self, ticket: Ticket) -> RemoteRef:
        self.post(ticket, action="created")
        return RemoteRef(id="", status=ticket.status, extra={"posted": True})

    def update(self, ref: RemoteRef, ticket: Ticket) -> RemoteRef:
        check_status(ticket.status)
        self.post(ticket, action="updated")
        return RemoteRef(id=ref.id, key=ref.key, status=ticket.status, extra=ref.extra)

    def transition(self, ref: RemoteRef, status: str) -> RemoteRef:
        check_status(status)
        note = "closed" if status == "closed" else "reopened"
        self.post(_note(ref, f"FixOps: {note}", status), action=note)
        return RemoteRef(id=ref.id, key=ref.key, status=status, extra=ref.extra)

    def comment(self, ref: RemoteRef, body: str) -> None:
        self.post(_note(ref, body[:30_000], ref.status or "open"), action="commented")

    def find_by_reference(self, reference: str) -> RemoteRef | None:
        return None


def _note(ref: RemoteRef, text: str, status: str) -> Ticket:
    reference = str((ref.extra or {}).get("reference") or ref.key or ref.id or "fixops")
    return Ticket(reference=reference, title=text[:250], body=text, severity="info", status=status)
