"""GitLab issues (REST v4, personal/project access token in PRIVATE-TOKEN).

settings: project (numeric id or "group/project" path, required), labels (extra labels).
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import quote

from apps.connectors.base import Connector, RemoteRef, Ticket, check_status
from apps.connectors.gitlab import mapping
from apps.connectors.inbound.changes import ChangeKind, RemoteChange
from apps.connectors.reconcile_reads import Pacer, chunks
from apps.connectors.schema import ConfigField, secret
from fixops.platform.http.responses import json_body
from fixops.platform.http.session import build_session

# iids per list request (per_page is at most 100).
BATCH_SIZE = 100


class GitLabConnector(Connector):
    kind: ClassVar[str] = "gitlab"
    credential_sets = (("token",),)
    base_url_help = "https://gitlab.com or your GitLab's URL."
    fields = (
        secret("token", "Access token", "A personal or project access token with the api scope."),
        ConfigField(
            "project",
            "Project",
            required=True,
            help='Numeric project id or its path, e.g. "group/project".',
        ),
        ConfigField("labels", "Labels", type="list", help="Extra labels on every issue."),
        ConfigField(
            "webhook_signing",
            "Webhook signing",
            type="choice",
            choices=("optional", "required"),
            default="optional",
            help="required: refuse deliveries without the signing token's signature "
            "(GitLab versions that offer signing tokens).",
        ),
    )

    @classmethod
    def validate(cls, credentials: dict, settings: dict) -> dict[str, str]:
        errors = super().validate(credentials, settings)
        if isinstance(settings, dict) and not isinstance(settings.get("labels", []), list):
            errors["settings.labels"] = "must be a list of label names"
        return errors

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.api = f"{self.base_url}/api/v4"
        self.project = f"{self.api}/projects/{quote(str(self.settings['project']), safe='')}"
        self.session = build_session(
            label="gitlab",
            timeout=self.timeout,
            headers={"PRIVATE-TOKEN": self.credentials["token"]},
        )

    def test_connection(self) -> str:
        user = json_body(self.session.get(f"{self.api}/user"), label="gitlab")
        project = json_body(self.session.get(self.project), label="gitlab")
        return (
            f"authenticated as {user.get('username', '?')}; "
            f"project {project.get('path_with_namespace', self.settings['project'])} reachable"
        )

    def create(self, ticket: Ticket) -> RemoteRef:
        issue = json_body(
            self.session.post(
                f"{self.project}/issues", json=mapping.issue_payload(ticket, self.settings)
            ),
            label="gitlab",
        )
        if ticket.status == "closed":
            return self._put(str(issue["iid"]), {"state_event": "close"})
        return mapping.remote_ref(issue)

    def update(self, ref: RemoteRef, ticket: Ticket) -> RemoteRef:
        check_status(ticket.status)
        payload = mapping.issue_payload(ticket, self.settings)
        payload["state_event"] = mapping.state_event(ticket.status)
        return self._put(ref.id, payload)

    def transition(self, ref: RemoteRef, status: str) -> RemoteRef:
        check_status(status)
        return self._put(ref.id, {"state_event": mapping.state_event(status)})

    def comment(self, ref: RemoteRef, body: str) -> None:
        self.session.post(
            f"{self.project}/issues/{quote(ref.id, safe='')}/notes", json={"body": body}
        )

    def find_by_reference(self, reference: str) -> RemoteRef | None:
        issues = json_body(
            self.session.get(
                f"{self.project}/issues",
                params={
                    "labels": mapping.label(reference),
                    "state": "all",
                    "order_by": "created_at",
                    "sort": "asc",
                    "per_page": "20",
                },
            ),
            label="gitlab",
        )
        return mapping.remote_ref(issues[0]) if issues else None

    # -- reconciliation (reading tickets back) --------------------------------------------------

    def fetch_states(self, refs: list[RemoteRef]) -> dict[str, RemoteChange | None]:
        """State of our issues, 100 iids per `GET /projects/:id/issues?iids[]=…&state=all`
        (paged by X-Next-Page); an iid the project no longer lists was deleted."""
        pacer = Pacer("gitlab")
        states: dict[str, RemoteChange | None] = {}
        iids = [r.id for r in refs if (r.id or "").isdigit()]
        for batch in chunks(iids, BATCH_SIZE):
            page: str | None = "1"
            found: set[str] = set()
            while page:
                params = [("iids[]", iid) for iid in batch] + [
                    ("state", "all"),
                    ("per_page", str(BATCH_SIZE)),
                    ("page", page),
                ]
                response = pacer(self.session.get, f"{self.project}/issues", params=params)
                for issue in json_body(response, label="gitlab"):
                    found.add(str(issue["iid"]))
                    states[str(issue["iid"])] = RemoteChange(
                        kind=ChangeKind.STATUS,
                        remote_id=str(issue["iid"]),
                        remote_key=f"#{issue['iid']}",
                        status=issue.get("state", ""),
                    )
                page = response.headers.get("X-Next-Page") or None
            states.update({iid: None for iid in batch if iid not in found})
        return states

    def _put(self, iid: str, payload: dict) -> RemoteRef:
        issue = json_body(
            self.session.put(f"{self.project}/issues/{quote(iid, safe='')}", json=payload),
            label="gitlab",
        )
        return mapping.remote_ref(issue)
