"""Jira Cloud (REST v3, email + API token, ADF bodies) and Jira Data Center (REST v2, PAT).

settings: project_key (required), issue_type ("Bug"), deployment ("cloud" | "datacenter"),
transitions ({"open": "Reopen", "closed": "Done"}: transition — or target status — names),
priority_map (optional {severity: priority name}).
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import quote

from apps.connectors.base import Connector, RemoteRef, Ticket, check_status
from apps.connectors.inbound.changes import ChangeKind, RemoteChange
from apps.connectors.jira import mapping
from apps.connectors.reconcile_reads import Pacer, chunks
from apps.connectors.schema import ConfigField, credential, secret
from fixops.platform.http.errors import PermanentError
from fixops.platform.http.responses import json_body
from fixops.platform.http.session import build_session

DEPLOYMENTS = ("cloud", "datacenter")
PAGE_SIZE = 50
# Bulk fetch takes up to 100 issue ids or keys per request (Jira Cloud REST v3).
BATCH_SIZE = 100


class JiraConnector(Connector):
    kind: ClassVar[str] = "jira"
    base_url_help = "https://<site>.atlassian.net (Cloud) or your Jira Data Center URL."
    fields = (
        credential(
            "email", "Account e-mail", "Cloud: the Atlassian account the API token belongs to."
        ),
        secret(
            "api_token",
            "API token",
            "Cloud: an API token of that account (id.atlassian.com → Security → API tokens).",
        ),
        secret("token", "Personal access token", "Data Center: a PAT, sent as a Bearer token."),
        ConfigField(
            "deployment",
            "Deployment",
            type="choice",
            choices=DEPLOYMENTS,
            default="cloud",
            help="cloud: REST v3 with e-mail + API token; datacenter: REST v2 with a PAT.",
        ),
        ConfigField(
            "project_key", "Project key", required=True, help="Where tickets are opened, e.g. SEC."
        ),
        ConfigField("issue_type", "Issue type", default="Bug", help="Issue type name (Bug)."),
        ConfigField(
            "transitions",
            "Transitions",
            type="mapping",
            help='Transition (or target status) names: {"open": "Reopen", "closed": "Done"}.',
        ),
        ConfigField(
            "priority_map",
            "Priority map",
            type="mapping",
            help='Jira priority per severity, e.g. {"critical": "Highest", "high": "High"}.',
        ),
    )

    @classmethod
    def validate(cls, credentials: dict, settings: dict) -> dict[str, str]:
        errors = super().validate(credentials, settings)
        if "credentials" in errors or "settings" in errors:
            return errors
        deployment = settings.get("deployment", "cloud")
        if deployment not in DEPLOYMENTS:
            errors["settings.deployment"] = f"must be one of {', '.join(DEPLOYMENTS)}"
            return errors
        wanted = ("email", "api_token") if deployment == "cloud" else ("token",)
        missing = [f for f in wanted if not str(credentials.get(f) or "").strip()]
        if missing:
            errors["credentials"] = (
                f"Jira {deployment} needs {{{', '.join(wanted)}}}; missing {', '.join(missing)}"
            )
        transitions = settings.get("transitions", {})
        if not isinstance(transitions, dict) or not all(
            k in ("open", "closed") and isinstance(v, str) and v for k, v in transitions.items()
        ):
            errors["settings.transitions"] = 'must map "open"/"closed" to transition names'
        if not isinstance(settings.get("priority_map", {}), dict):
            errors["settings.priority_map"] = "must map severities to Jira priority names"
        return errors

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cloud = self.settings.get("deployment", "cloud") == "cloud"
        self.api = f"{self.base_url}/rest/api/{'3' if self.cloud else '2'}"
        if self.cloud:
            auth = (self.credentials["email"], self.credentials["api_token"])
            self.session = build_session(label="jira", timeout=self.timeout, auth=auth)
        else:
            self.session = build_session(
                label="jira",
                timeout=self.timeout,
                headers={"Authorization": f"Bearer {self.credentials['token']}"},
            )
        self.transitions = {**mapping.DEFAULT_TRANSITIONS, **self.settings.get("transitions", {})}

    # -- the interface ------------------------------------------------------------------------

    def test_connection(self) -> str:
        me = json_body(self.session.get(f"{self.api}/myself"), label="jira")
        who = me.get("emailAddress") or me.get("name") or me.get("displayName") or "?"
        project = self.settings["project_key"]
        try:
            self.session.get(f"{self.api}/project/{quote(project, safe='')}")
        except PermanentError as exc:
            if exc.status == 404:
                raise PermanentError(
                    f"jira: authenticated as {who}, but project {project!r} is not visible: {exc}",
                    status=404,
                ) from exc
            raise
        return f"authenticated as {who}; project {project} reachable"

    def create(self, ticket: Ticket) -> RemoteRef:
        fields = mapping.issue_fields(ticket, self.settings, cloud=self.cloud, create=True)
        created = json_body(
            self.session.post(f"{self.api}/issue", json={"fields": fields}), label="jira"
        )
        ref = RemoteRef(
            id=str(created["id"]),
            key=created.get("key", ""),
            url=f"{self.base_url}/browse/{created.get('key', '')}",
            status="",
        )
        if ticket.status == "closed":
            return self.transition(ref, "closed")
        return self._get(ref.key or ref.id)

    def update(self, ref: RemoteRef, ticket: Ticket) -> RemoteRef:
        fields = mapping.issue_fields(ticket, self.settings, cloud=self.cloud, create=False)
        self.session.put(f"{self.api}/issue/{self._key(ref)}", json={"fields": fields})
        return self.transition(ref, ticket.status)

    def transition(self, ref: RemoteRef, status: str) -> RemoteRef:
        check_status(status)
        key = self._key(ref)
        issue = self._get_raw(key)
        if mapping.fixops_status(issue) == status:
            return mapping.remote_ref(issue, self.base_url)
        wanted = self.transitions[status]
        data = json_body(self.session.get(f"{self.api}/issue/{key}/transitions"), label="jira")
        available = data.get("transitions", [])
        chosen = next(
            (
                t
                for t in available
                if t.get("name", "").casefold() == wanted.casefold()
                or ((t.get("to") or {}).get("name", "")).casefold() == wanted.casefold()
            ),
            None,
        )
        if chosen is None:
            names = ", ".join(repr(t.get("name")) for t in available) or "none"
            raise PermanentError(
                f"jira: no transition named {wanted!r} from status "
                f"{issue['fields']['status'].get('name')!r} of {key} (available: {names}); "
                f"set settings.transitions.{status}"
            )
        self.session.post(
            f"{self.api}/issue/{key}/transitions", json={"transition": {"id": chosen["id"]}}
        )
        return self._get(key)

    def comment(self, ref: RemoteRef, body: str) -> None:
        self.session.post(
            f"{self.api}/issue/{self._key(ref)}/comment",
            json={"body": mapping.comment_body(body, cloud=self.cloud)},
        )

    def find_by_reference(self, reference: str) -> RemoteRef | None:
        """Search the reference label with JQL. Jira Cloud search is eventually consistent:
        an issue created seconds ago may not be found yet (see docs/connectors.md)."""
        jql = mapping.jql_for(reference, self.settings["project_key"])
        if self.cloud:
            data = json_body(
                self.session.post(
                    f"{self.api}/search/jql",
                    json={"jql": jql, "fields": ["status", "labels"], "maxResults": PAGE_SIZE},
                ),
                label="jira",
            )
        else:
            data = json_body(
                self.session.get(
                    f"{self.api}/search",
                    params={"jql": jql, "fields": "status,labels", "maxResults": PAGE_SIZE},
                ),
                label="jira",
            )
        wanted = mapping.label(reference)
        for issue in data.get("issues", []):
            if wanted in ((issue.get("fields") or {}).get("labels") or []):
                return mapping.remote_ref(issue, self.base_url)
        return None

    # -- reconciliation (reading tickets back) --------------------------------------------------

    def fetch_states(self, refs: list[RemoteRef]) -> dict[str, RemoteChange | None]:
        """Status and resolution of our issues, 100 per request. Cloud: `POST
        /rest/api/3/issue/bulkfetch` (issues not found or not visible are left out of `issues`;
        ids under `issueErrors` are retriable and stay unknown). Data Center: `GET
        /rest/api/2/search` with JQL `issue in (...)` and `validateQuery=false`, so a deleted
        issue is skipped instead of failing the query, paged by startAt."""
        pacer = Pacer("jira")
        states: dict[str, RemoteChange | None] = {}
        for batch in chunks([r.id for r in refs], BATCH_SIZE):
            issues, unknown = (self._bulkfetch if self.cloud else self._search_ids)(pacer, batch)
            seen = set(unknown)
            for issue in issues:
                seen.add(str(issue["id"]))
                states[str(issue["id"])] = self._change(issue)
            states.update({remote_id: None for remote_id in batch if remote_id not in seen})
        return states

    def _bulkfetch(self, pacer: Pacer, ids: list[str]) -> tuple[list[dict], set[str]]:
        data = json_body(
            pacer(
                self.session.post,
                f"{self.api}/issue/bulkfetch",
                json={"issueIdsOrKeys": ids, "fields": ["status", "resolution"]},
            ),
            label="jira",
        )
        unknown = {str(e.get("id")) for e in data.get("issueErrors") or []}
        return data.get("issues") or [], unknown

    def _search_ids(self, pacer: Pacer, ids: list[str]) -> tuple[list[dict], set[str]]:
        ids = [i for i in ids if i.isdigit()]  # Jira issue ids: only digits go into the JQL
        issues: list[dict] = []
        start = 0
        while ids:
            data = json_body(
                pacer(
                    self.session.get,
                    f"{self.api}/search",
                    params={
                        "jql": f"issue in ({','.join(ids)}) ORDER BY id ASC",
                        "fields": "status,resolution",
                        "validateQuery": "false",
                        "startAt": str(start),
                        "maxResults": str(BATCH_SIZE),
                    },
                ),
                label="jira",
            )
            page = data.get("issues") or []
            issues += page
            start += len(page)
            if not page or start >= int(data.get("total") or 0):
                break
        return issues, set()

    @staticmethod
    def _change(issue: dict) -> RemoteChange:
        fields = issue.get("fields") or {}
        status = fields.get("status") or {}
        return RemoteChange(
            kind=ChangeKind.STATUS,
            remote_id=str(issue["id"]),
            remote_key=issue.get("key", ""),
            status=status.get("name", ""),
            status_category=(status.get("statusCategory") or {}).get("key", ""),
            resolution=(fields.get("resolution") or {}).get("name", ""),
        )

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _key(ref: RemoteRef) -> str:
        return quote(ref.key or ref.id, safe="")

    def _get_raw(self, key: str) -> dict:
        return json_body(
            self.session.get(f"{self.api}/issue/{key}", params={"fields": "status,labels"}),
            label="jira",
        )

    def _get(self, key: str) -> RemoteRef:
        return mapping.remote_ref(self._get_raw(quote(key, safe="")), self.base_url)
