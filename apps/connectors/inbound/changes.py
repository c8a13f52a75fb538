"""What a vendor says happened to one of our remote objects, in one shape for every vendor.

A vendor's webhook parser (`apps/connectors/<vendor>/webhook.py`) and its reconciliation read
(`fetch_states` of its client) both produce `RemoteChange`s; `apps.connectors.inbound.apply`
maps them onto findings and acceptances. Nothing here knows a vendor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ChangeKind(StrEnum):
    STATUS = "status"  # the ticket's status (and resolution) is now `status`
    COMMENT = "comment"  # someone commented
    DELETED = "deleted"  # the ticket no longer exists
    ACTION = "action"  # a chat button was pressed (Slack interactivity)


@dataclass(frozen=True)
class RemoteChange:
    kind: ChangeKind
    # Identifies the remote object as `ExternalLink.remote_id` (or `remote_key`) stores it.
    remote_id: str
    remote_key: str = ""
    # The vendor's own words: status name, its category where the vendor has one
    # (Jira: new / indeterminate / done; ServiceNow: state number), resolution.
    status: str = ""
    status_category: str = ""
    resolution: str = ""
    # Who made the change at the vendor (account id, login or e-mail), for echo suppression.
    actor: str = ""
    comment_id: str = ""
    comment_body: str = ""
    # Slack buttons: the action id and its value (our reference, e.g. fixops-f-12).
    action: str = ""
    value: str = ""
    occurred_at: datetime | None = None
