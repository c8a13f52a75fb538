"""Azure DevOps work items (REST 7.1, JSON Patch, PAT as basic auth with an empty user).

base_url is the organisation URL (https://dev.azure.com/<org>). settings: project (required),
work_item_type ("Bug"), states ({"open": "Active", "closed": "Closed"}; use "Doing"/"Done" for
the Basic process), tags (extra tags), priority_map ({severity: 1-4}), area_path, iteration_path.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import quote

import requests

from apps.connectors.azure_devops import mapping
from apps.connectors.base import Connector, RemoteRef, Ticket, check_status
from apps.connectors.inbound.changes import ChangeKind, RemoteChange
from apps.connectors.reconcile_reads import Pacer, chunks
from apps.connectors.schema import ConfigField, secret
from apps.connectors.text import to_html
from fixops.platform.http.errors import PermanentError
from fixops.platform.http.responses import json_body
from fixops.platform.http.session import build_session

API_VERSION = "7.1"
# Work items per workitemsbatch request (the API takes at most 200 ids).
BATCH_SIZE = 200
PATCH_JSON = "application/json-patch+json"


def _sign_in_page(response: requests.Response) -> None:
    """A rejected PAT can come back as 203 with the HTML sign-in page instead of a 401."""
    if response.status_code == 203 or (
        response.ok and "text/html" in response.headers.get("Content-Type", "")
    ):
        raise PermanentError(
            f"azure_devops: credentials rejected (HTTP {response.status_code} sign-in page); "
            "check the personal access token and its scopes",
            status=401,
        )


class AzureDevOpsConnector(Connector):
    kind: ClassVar[str] = "azure_devops"
    credential_sets = (("token",),)
    base_url_help = "The organisation URL, https://dev.azure.com/<org>."
    fields = (
        secret("token", "Personal access token", "A PAT with Work Items (Read & write)."),
        ConfigField("project", "Project", required=True, help="The project's name."),
        ConfigField("work_item_type", "Work item type", default="Bug"),
        ConfigField(
            "states",
            "States",
            type="mapping",
            help='{"open": "Active", "closed": "Closed"}; "Doing"/"Done" for the Basic process.',
        ),
        ConfigField("tags", "Tags", type="list", help="Extra tags on every work item."),
        ConfigField(
            "priority_map",
            "Priority map",
            type="mapping",
            help='Priority 1-4 per severity, e.g. {"critical": 1, "high": 2}.',
        ),
        ConfigField("area_path", "Area path"),
        ConfigField("iteration_path", "Iteration path"),
        ConfigField(
            "webhook_auth",
            "Webhook authentication",
            type="choice",
            choices=("basic", "header"),
            default="basic",
            help="How the service hook authenticates: basic auth (password = the webhook "
            "secret) or a custom header carrying the secret.",
        ),
        ConfigField(
            "webhook_username",
            "Webhook user name",
            default="fixops",
            help="The service hook's basic auth user name.",
        ),
        ConfigField(
            "webhook_header",
            "Webhook header",
            default="X-FixOps-Token",
            help="With header authentication: the header's name.",
        ),
    )

    @classmethod
    def validate(cls, credentials: dict, settings: dict) -> dict[str, str]:
        errors = super().validate(credentials, settings)
        if not isinstance(settings, dict):
            return errors
        states = settings.get("states", {})
        if not isinstance(states, dict) or not all(
            k in ("open", "closed") and isinstance(v, str) and v for k, v in states.items()
        ):
            errors["settings.states"] = 'must map "open"/"closed" to work item states'
        priority_map = settings.get("priority_map", {})
        if not isinstance(priority_map, dict) or not all(
            str(v).isdigit() and 1 <= int(v) <= 4 for v in priority_map.values()
        ):
            errors["settings.priority_map"] = "must map severities to priorities 1-4"
        return errors

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.project = quote(self.settings["project"], safe="")
        self.wit = f"{self.base_url}/{self.project}/_apis/wit"
        self.type = self.settings.get("work_item_type") or "Bug"
        self.states = {**mapping.DEFAULT_STATES, **self.settings.get("states", {})}
        self.session = build_session(
            label="azure_devops",
            timeout=self.timeout,
            auth=("", self.credentials["token"]),
            check_status=_sign_in_page,
        )

    def _params(self, **extra) -> dict:
        return {"api-version": API_VERSION, **extra}

    def test_connection(self) -> str:
        project = json_body(
            self.session.get(
                f"{self.base_url}/_apis/projects/{self.project}", params=self._params()
            ),
            label="azure_devops",
        )
        return f"authenticated; project {project.get('name')} reachable"

    def create(self, ticket: Ticket) -> RemoteRef:
        item = self._patch_request(
            "POST",
            f"{self.wit}/workitems/${quote(self.type, safe='')}",
            mapping.field_ops(ticket, self.settings),
        )
        ref = mapping.remote_ref(item)
        if ticket.status == "closed":
            return self.transition(ref, "closed")
        return ref

    def update(self, ref: RemoteRef, ticket: Ticket) -> RemoteRef:
        check_status(ticket.status)
        current = self._get(ref.id)
        ops = mapping.field_ops(ticket, self.settings)
        if mapping.fixops_status(current["fields"].get("System.State", "")) != ticket.status:
            ops.append(mapping.state_op(self.states[ticket.status]))
        return mapping.remote_ref(self._patch_request("PATCH", self._item_url(ref.id), ops))

    def transition(self, ref: RemoteRef, status: str, *, _retried: bool = False) -> RemoteRef:
        check_status(status)
        current = self._get(ref.id)
        if mapping.fixops_status(current["fields"].get("System.State", "")) == status:
            return mapping.remote_ref(current)
        ops = [
            {"op": "test", "path": "/rev", "value": current["rev"]},
            mapping.state_op(self.states[status]),
        ]
        try:
            return mapping.remote_ref(self._patch_request("PATCH", self._item_url(ref.id), ops))
        except PermanentError as exc:
            if exc.status != 412 or _retried:
                raise
        # Someone changed the work item between our read and write: read again, once.
        return self.transition(ref, status, _retried=True)

    def comment(self, ref: RemoteRef, body: str) -> None:
        # A History entry is the work item's discussion comment (no preview API needed).
        self._patch_request(
            "PATCH",
            self._item_url(ref.id),
            [{"op": "add", "path": "/fields/System.History", "value": to_html(body)}],
        )

    def find_by_reference(self, reference: str) -> RemoteRef | None:
        safe = mapping.tag(reference).replace("'", "''")
        # WIQL, not SQL: the only value is the tag, with quotes doubled as WIQL escapes them.
        query = (
            "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project "  # noqa: S608
            f"AND [System.Tags] CONTAINS '{safe}' ORDER BY [System.Id] ASC"
        )
        result = json_body(
            self.session.post(
                f"{self.wit}/wiql", params=self._params(**{"$top": "50"}), json={"query": query}
            ),
            label="azure_devops",
        )
        ids = [str(w["id"]) for w in result.get("workItems", [])][:200]
        if not ids:
            return None
        items = json_body(
            self.session.get(
                f"{self.base_url}/{self.project}/_apis/wit/workitems",
                params=self._params(ids=",".join(ids), **{"$expand": "links"}),
            ),
            label="azure_devops",
        ).get("value", [])
        for item in sorted(items, key=lambda i: int(i["id"])):
            if mapping.has_tag(item, reference):
                return mapping.remote_ref(item)
        return None

    # -- reconciliation (reading tickets back) --------------------------------------------------

    def fetch_states(self, refs: list[RemoteRef]) -> dict[str, RemoteChange | None]:
        """State of our work items, 200 per `POST {project}/_apis/wit/workitemsbatch` with
        `errorPolicy: omit` (Work Items - Get Work Items Batch, 7.1): a deleted item (in the
        recycle bin or destroyed) comes back as null or not at all."""
        pacer = Pacer("azure_devops")
        states: dict[str, RemoteChange | None] = {}
        ids = [r.id for r in refs if (r.id or "").isdigit()]
        for batch in chunks(ids, BATCH_SIZE):
            data = json_body(
                pacer(
                    self.session.post,
                    f"{self.wit}/workitemsbatch",
                    params=self._params(),
                    json={
                        "ids": [int(i) for i in batch],
                        "fields": [
                            "System.Id",
                            "System.State",
                            "System.Reason",
                            "Microsoft.VSTS.Common.ResolvedReason",
                        ],
                        "errorPolicy": "omit",
                    },
                ),
                label="azure_devops",
            )
            found = {}
            for item in data.get("value") or []:
                if not item:
                    continue
                fields = item.get("fields") or {}
                found[str(item["id"])] = RemoteChange(
                    kind=ChangeKind.STATUS,
                    remote_id=str(item["id"]),
                    remote_key=str(item["id"]),
                    status=fields.get("System.State", ""),
                    # The resolved reason where the process has one ("Won't Fix"), else the
                    # state change's reason.
                    resolution=fields.get("Microsoft.VSTS.Common.ResolvedReason")
                    or fields.get("System.Reason", ""),
                )
            states.update({i: found.get(i) for i in batch})
        return states

    # -- helpers --------------------------------------------------------------------------------

    def _item_url(self, item_id: str) -> str:
        return f"{self.wit}/workitems/{quote(str(item_id), safe='')}"

    def _get(self, item_id: str) -> dict:
        return json_body(
            self.session.get(self._item_url(item_id), params=self._params(**{"$expand": "links"})),
            label="azure_devops",
        )

    def _patch_request(self, method: str, url: str, ops: list[dict]) -> dict:
        return json_body(
            self.session.request(
                method, url, params=self._params(), json=ops, headers={"Content-Type": PATCH_JSON}
            ),
            label="azure_devops",
        )
