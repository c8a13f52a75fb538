"""ServiceNow incidents through the Table API, basic auth of an integration user.

settings: table ("incident"), close_code ("Solution provided"), close_notes, resolved_state
("6"), reopen_state ("2"), comment_field ("work_notes" | "comments"), assignment_group,
caller_id, category (optional, set on create).
"""

from __future__ import annotations

import re
from typing import ClassVar

from apps.connectors.base import Connector, RemoteRef, Ticket, check_status
from apps.connectors.inbound.changes import ChangeKind, RemoteChange
from apps.connectors.reconcile_reads import Pacer, chunks
from apps.connectors.schema import ConfigField, credential, secret
from apps.connectors.servicenow import mapping
from fixops.platform.http.errors import PermanentError
from fixops.platform.http.responses import json_body
from fixops.platform.http.session import build_session

_SAFE_REFERENCE = re.compile(r"^[A-Za-z0-9._:-]+$")
_SAFE_TABLE = re.compile(r"^[a-z0-9_]+$")
_SYS_ID = re.compile(r"^[0-9a-f]{32}$")
# sys_ids per Table API read (an encoded `sys_idIN` query in the URL: 100 x 33 characters).
BATCH_SIZE = 100


class ServiceNowConnector(Connector):
    kind: ClassVar[str] = "servicenow"
    credential_sets = (("username", "password"),)
    base_url_help = "The instance URL, e.g. https://acme.service-now.com."
    fields = (
        credential(
            "username",
            "User name",
            "An integration user with the itil role (create and update incidents).",
        ),
        secret("password", "Password", "That user's password (basic auth)."),
        ConfigField("table", "Table", default="incident", help="Table of the records (incident)."),
        ConfigField(
            "comment_field",
            "Comment field",
            type="choice",
            choices=("work_notes", "comments"),
            default="work_notes",
            help="work_notes (internal) or comments (visible to the caller).",
        ),
        ConfigField("assignment_group", "Assignment group", help="sys_id or name, on create."),
        ConfigField("caller_id", "Caller", help="sys_id or user name of the caller, on create."),
        ConfigField("category", "Category", help="Category of new incidents."),
        ConfigField("resolved_state", "Resolved state", default="6", help="State when closed."),
        ConfigField("reopen_state", "Reopened state", default="2", help="State when reopened."),
        ConfigField("close_code", "Close code", default="Solution provided"),
        ConfigField("close_notes", "Close notes", default="Resolved in FixOps."),
    )

    @classmethod
    def validate(cls, credentials: dict, settings: dict) -> dict[str, str]:
        errors = super().validate(credentials, settings)
        if isinstance(settings, dict):
            if not _SAFE_TABLE.match(str(settings.get("table", "incident"))):
                errors["settings.table"] = "a table name such as incident"
            if settings.get("comment_field", "work_notes") not in ("work_notes", "comments"):
                errors["settings.comment_field"] = 'must be "work_notes" or "comments"'
        return errors

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.table = self.settings.get("table") or "incident"
        self.api = f"{self.base_url}/api/now/table"
        self.session = build_session(
            label="servicenow",
            timeout=self.timeout,
            auth=(self.credentials["username"], self.credentials["password"]),
        )

    def _record(self, response) -> dict:
        return json_body(response, label="servicenow").get("result") or {}

    def _ref(self, record: dict) -> RemoteRef:
        return mapping.remote_ref(record, self.base_url, self.table)

    def test_connection(self) -> str:
        username = self.credentials["username"]
        users = self._record(
            self.session.get(
                f"{self.api}/sys_user",
                params={
                    "sysparm_query": f"user_name={username}",
                    "sysparm_fields": "user_name,name",
                    "sysparm_limit": "1",
                },
            )
        )
        self.session.get(
            f"{self.api}/{self.table}", params={"sysparm_limit": "1", "sysparm_fields": "sys_id"}
        )
        name = users[0].get("name") if users else ""
        return (
            f"authenticated as {username}"
            + (f" ({name})" if name else "")
            + f"; table {self.table} readable"
        )

    def create(self, ticket: Ticket) -> RemoteRef:
        self._check_reference(ticket.reference)
        fields = mapping.incident_fields(ticket, self.settings, create=True)
        if ticket.status == "closed":
            fields.update(mapping.state_fields("closed", self.settings))
        record = self._record(
            self.session.post(
                f"{self.api}/{self.table}", params={"sysparm_fields": mapping.FIELDS}, json=fields
            )
        )
        return self._ref(record)

    def update(self, ref: RemoteRef, ticket: Ticket) -> RemoteRef:
        check_status(ticket.status)
        current = self._get(ref.id)
        fields = mapping.incident_fields(ticket, self.settings, create=False)
        if mapping.fixops_status(current["state"]) != ticket.status:
            self._refuse_closed(current, ticket.status)
            fields.update(mapping.state_fields(ticket.status, self.settings))
        return self._patch(ref.id, fields)

    def transition(self, ref: RemoteRef, status: str) -> RemoteRef:
        check_status(status)
        current = self._get(ref.id)
        if mapping.fixops_status(current["state"]) == status:
            return self._ref(current)
        self._refuse_closed(current, status)
        return self._patch(ref.id, mapping.state_fields(status, self.settings))

    def comment(self, ref: RemoteRef, body: str) -> None:
        field = self.settings.get("comment_field") or "work_notes"
        self._patch(ref.id, {field: body})

    def find_by_reference(self, reference: str) -> RemoteRef | None:
        self._check_reference(reference)
        records = self._record(
            self.session.get(
                f"{self.api}/{self.table}",
                params={
                    "sysparm_query": f"correlation_id={reference}^ORDERBYsys_created_on",
                    "sysparm_fields": mapping.FIELDS,
                    "sysparm_limit": "1",
                },
            )
        )
        return self._ref(records[0]) if records else None

    # -- reconciliation (reading tickets back) --------------------------------------------------

    def fetch_states(self, refs: list[RemoteRef]) -> dict[str, RemoteChange | None]:
        """State of our records, 100 sys_ids per Table API read (`sysparm_query=sys_idIN...`,
        paged by sysparm_offset while the Link header has rel="next"); a sys_id the table no
        longer returns was deleted."""
        pacer = Pacer("servicenow")
        states: dict[str, RemoteChange | None] = {}
        ids = [r.id for r in refs if _SYS_ID.match(r.id or "")]
        for batch in chunks(ids, BATCH_SIZE):
            params = {
                "sysparm_query": f"sys_idIN{','.join(batch)}^ORDERBYsys_id",
                "sysparm_fields": "sys_id,number,state,close_code",
                "sysparm_limit": str(BATCH_SIZE),
                "sysparm_offset": "0",
            }
            found: set[str] = set()
            while True:
                response = pacer(self.session.get, f"{self.api}/{self.table}", params=params)
                for record in self._record(response):
                    found.add(record["sys_id"])
                    states[record["sys_id"]] = self._change(record)
                if "next" not in response.links:
                    break
                params = {
                    **params,
                    "sysparm_offset": str(int(params["sysparm_offset"]) + BATCH_SIZE),
                }
            states.update({sys_id: None for sys_id in batch if sys_id not in found})
        return states

    @staticmethod
    def _change(record: dict) -> RemoteChange:
        state = str(record.get("state", ""))
        return RemoteChange(
            kind=ChangeKind.STATUS,
            remote_id=record["sys_id"],
            remote_key=record.get("number", ""),
            status=mapping.STATE_NAMES.get(state, state),
            status_category=state,
            resolution=record.get("close_code", "") or "",
        )

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _check_reference(reference: str) -> None:
        # Encoded queries treat ^ and = as syntax: only plain references are searchable.
        if not _SAFE_REFERENCE.match(reference or ""):
            raise PermanentError(
                f"servicenow: reference {reference!r} has characters that "
                "cannot be used in a sysparm_query"
            )

    def _get(self, sys_id: str) -> dict:
        return self._record(
            self.session.get(
                f"{self.api}/{self.table}/{sys_id}", params={"sysparm_fields": mapping.FIELDS}
            )
        )

    def _patch(self, sys_id: str, fields: dict) -> RemoteRef:
        return self._ref(
            self._record(
                self.session.patch(
                    f"{self.api}/{self.table}/{sys_id}",
                    params={"sysparm_fields": mapping.FIELDS},
                    json=fields,
                )
            )
        )

    @staticmethod
    def _refuse_closed(record: dict, status: str) -> None:
        if str(record.get("state")) == "7" and status == "open":
            raise PermanentError(
                f"servicenow: {record.get('number')} is Closed (read-only); it cannot be reopened"
            )
