"""Confluence pages (REST v1 content API, storage format) — Cloud and Data Center.

base_url is the Confluence root: https://<site>.atlassian.net/wiki (Cloud) or the Data Center
URL. credentials: {"email", "api_token"} (Cloud) or {"token"} (Data Center PAT).
settings: space_key (required), parent_id (optional page id).

A page has no workflow: "closed" is the fixops-closed label. Updates increment the version; a
409 (someone edited the page meanwhile) re-reads the version and retries once. The page title
carries the reference in brackets (titles are unique per space) and the reference is a label,
found back with CQL.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import quote

from apps.connectors.base import Connector, RemoteRef, Ticket, check_status
from apps.connectors.confluence import mapping
from apps.connectors.schema import ConfigField, credential, secret
from fixops.platform.http.errors import PermanentError, TransientError
from fixops.platform.http.responses import json_body
from fixops.platform.http.session import build_session

EXPAND = "version,metadata.labels"


class ConfluenceConnector(Connector):
    kind: ClassVar[str] = "confluence"
    credential_sets = (("email", "api_token"), ("token",))
    base_url_help = "https://<site>.atlassian.net/wiki (Cloud) or your Data Center URL."
    fields = (
        credential("email", "Account e-mail", "Cloud: the account the API token belongs to."),
        secret("api_token", "API token", "Cloud: an API token of that account."),
        secret("token", "Personal access token", "Data Center: a PAT (Bearer)."),
        ConfigField("space_key", "Space key", required=True, help="Where pages are written."),
        ConfigField("parent_id", "Parent page id", help="Pages are created under this page."),
    )

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.api = f"{self.base_url}/rest/api"
        if self.credentials.get("email") and self.credentials.get("api_token"):
            self.session = build_session(
                label="confluence",
                timeout=self.timeout,
                auth=(self.credentials["email"], self.credentials["api_token"]),
            )
        else:
            self.session = build_session(
                label="confluence",
                timeout=self.timeout,
                headers={"Authorization": f"Bearer {self.credentials['token']}"},
            )

    def _json(self, response):
        return json_body(response, label="confluence")

    def test_connection(self) -> str:
        me = self._json(self.session.get(f"{self.api}/user/current"))
        who = me.get("email") or me.get("username") or me.get("displayName") or "?"
        space = self.settings["space_key"]
        self.session.get(f"{self.api}/space/{quote(space, safe='')}")
        return f"authenticated as {who}; space {space} reachable"

    def create(self, ticket: Ticket) -> RemoteRef:
        payload = mapping.page_payload(ticket, self.settings)
        try:
            page = self._json(
                self.session.post(f"{self.api}/content", params={"expand": EXPAND}, json=payload)
            )
        except PermanentError as exc:
            if exc.status != 400 or "title already exists" not in str(exc).lower():
                raise
            # A create whose outcome was unknown: the page is there under our title.
            existing = self._by_title(payload["title"])
            if existing is None or ticket.reference.lower() not in mapping.label_names(existing):
                raise
            return self.update(mapping.remote_ref(existing, self.base_url), ticket)
        return mapping.remote_ref(page, self.base_url)

    def update(self, ref: RemoteRef, ticket: Ticket) -> RemoteRef:
        check_status(ticket.status)
        page = self._put(ref.id, ticket)
        self._set_closed_label(ref.id, ticket.status, mapping.label_names(page))
        return mapping.remote_ref(self._get(ref.id), self.base_url)

    def transition(self, ref: RemoteRef, status: str) -> RemoteRef:
        check_status(status)
        page = self._get(ref.id)
        self._set_closed_label(ref.id, status, mapping.label_names(page))
        return mapping.remote_ref(self._get(ref.id), self.base_url)

    def comment(self, ref: RemoteRef, body: str) -> None:
        self.session.post(
            f"{self.api}/content",
            json={
                "type": "comment",
                "container": {"id": ref.id, "type": "page", "status": "current"},
                "body": mapping.storage_body(Ticket(reference="", title="", body=body)),
            },
        )

    def find_by_reference(self, reference: str) -> RemoteRef | None:
        label = reference.strip().lower().replace('"', "")
        space = self.settings["space_key"].replace('"', "")
        cql = f'type = page AND space = "{space}" AND label = "{label}" ORDER BY created ASC'
        data = self._json(
            self.session.get(
                f"{self.api}/content/search", params={"cql": cql, "limit": "10", "expand": EXPAND}
            )
        )
        results = data.get("results") or []
        return mapping.remote_ref(results[0], self.base_url) if results else None

    # -- helpers --------------------------------------------------------------------------------

    def _get(self, page_id: str) -> dict:
        return self._json(
            self.session.get(
                f"{self.api}/content/{quote(page_id, safe='')}", params={"expand": EXPAND}
            )
        )

    def _by_title(self, title: str) -> dict | None:
        data = self._json(
            self.session.get(
                f"{self.api}/content",
                params={
                    "spaceKey": self.settings["space_key"],
                    "title": title,
                    "type": "page",
                    "expand": EXPAND,
                },
            )
        )
        results = data.get("results") or []
        return results[0] if results else None

    def _put(self, page_id: str, ticket: Ticket) -> dict:
        """PUT with version = current + 1; on 409 (a concurrent edit) re-read and retry once."""
        try:
            return self._put_once(page_id, ticket)
        except TransientError as exc:
            if exc.status != 409:
                raise
        return self._put_once(page_id, ticket)

    def _put_once(self, page_id: str, ticket: Ticket) -> dict:
        current = self._get(page_id)
        number = int((current.get("version") or {}).get("number") or 0) + 1
        payload = mapping.page_payload(ticket, self.settings)
        payload.pop("metadata")
        payload.update(
            {"id": page_id, "version": {"number": number, "message": "Updated by FixOps"}}
        )
        return self._json(
            self.session.put(
                f"{self.api}/content/{quote(page_id, safe='')}",
                params={"expand": EXPAND},
                json=payload,
            )
        )

    def _set_closed_label(self, page_id: str, status: str, names: list[str]) -> None:
        has = mapping.CLOSED_LABEL in names
        url = f"{self.api}/content/{quote(page_id, safe='')}/label"
        if status == "closed" and not has:
            self.session.post(url, json=[{"prefix": "global", "name": mapping.CLOSED_LABEL}])
        elif status == "open" and has:
            self.session.delete(f"{url}/{mapping.CLOSED_LABEL}")
