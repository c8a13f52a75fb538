"""Fake Confluence REST v1 (Cloud under /wiki with email:api_token, or Data Center with a PAT):
current user, space, content create (pages with labels in metadata, comments), get, find by
space+title, update with version = current + 1 (409 otherwise), labels add/remove, CQL search
(type/space/label) paged with start/limit and _links.next; errors {"statusCode", "message"}."""

from __future__ import annotations

import base64
import re
from urllib.parse import urlencode

from tests.fakes.base import FakeServer, RecordedRequest, Response, json_response

_CQL = re.compile(
    r'^type = page AND space = "(?P<space>[^"]*)" AND label = "(?P<label>[^"]*)"'
    r"(?: ORDER BY created ASC)?$"
)
P = r"(?:/wiki)?/rest/api"


class FakeConfluence(FakeServer):
    name = "confluence"
    routes = (
        ("GET", P + r"/user/current", "current_user"),
        ("GET", P + r"/space/(?P<key>[^/]+)", "get_space"),
        ("GET", P + r"/content/search", "search"),
        ("GET", P + r"/content", "list_content"),
        ("POST", P + r"/content", "create_content"),
        ("GET", P + r"/content/(?P<cid>\d+)", "get_content"),
        ("PUT", P + r"/content/(?P<cid>\d+)", "update_content"),
        ("POST", P + r"/content/(?P<cid>\d+)/label", "add_labels"),
        ("DELETE", P + r"/content/(?P<cid>\d+)/label/(?P<label>[^/]+)", "remove_label"),
    )

    def __init__(
        self,
        *,
        deployment: str = "cloud",
        email: str = "jane@acme.test",
        api_token: str = "conf-token",
        pat: str = "conf-pat",
        space_key: str = "SEC",
    ) -> None:
        self.deployment, self.email, self.api_token, self.pat = deployment, email, api_token, pat
        self.space_key = space_key
        self._concurrent_edits = 0
        super().__init__()

    def reset_state(self) -> None:
        self.state = {"pages": {}, "comments": {}, "next_id": 65536}

    @property
    def root(self) -> str:
        return f"{self.url}/wiki" if self.deployment == "cloud" else self.url

    def config(self, **settings) -> dict:
        credentials = (
            {"email": self.email, "api_token": self.api_token}
            if self.deployment == "cloud"
            else {"token": self.pat}
        )
        return {
            "kind": "confluence",
            "base_url": self.root,
            "credentials": credentials,
            "settings": {"space_key": self.space_key, **settings},
        }

    def concurrent_edit_next(self, n: int = 1) -> None:
        """Someone else saves the page right before each of our next n PUTs (-> 409)."""
        with self.lock:
            self._concurrent_edits += n

    def check_auth(self, req: RecordedRequest) -> Response | None:
        if self.deployment == "cloud":
            expected = (
                "Basic " + base64.b64encode(f"{self.email}:{self.api_token}".encode()).decode()
            )
        else:
            expected = f"Bearer {self.pat}"
        if req.header("Authorization") == expected:
            return None
        return self.error_response(
            401,
            "This request requires authentication (Basic authentication "
            "with email and API token, or a personal access token).",
        )

    def error_response(self, status, message, headers=None):
        return Response(
            status,
            {
                "statusCode": status,
                "data": {
                    "authorized": status != 401,
                    "valid": False,
                    "errors": [],
                    "successful": False,
                },
                "message": message,
            },
            headers or {},
        )

    def with_reference(self, reference: str) -> list[dict]:
        with self.lock:
            return [p for p in self.state["pages"].values() if reference in p["labels"]]

    # -- helpers ---------------------------------------------------------------------------------

    def _public(self, page: dict) -> dict:
        return {
            "id": page["id"],
            "type": "page",
            "status": "current",
            "title": page["title"],
            "space": {"key": page["space"]},
            "version": {"number": page["version"], "message": page.get("message", "")},
            "body": {"storage": {"value": page["body"], "representation": "storage"}},
            "ancestors": page["ancestors"],
            "metadata": {
                "labels": {
                    "results": [
                        {"prefix": "global", "name": n, "id": str(i)}
                        for i, n in enumerate(page["labels"])
                    ],
                    "size": len(page["labels"]),
                }
            },
            "_links": {"webui": f"/spaces/{page['space']}/pages/{page['id']}", "base": self.root},
        }

    def _not_found(self, cid):
        return self.error_response(404, f"No content found with id: ContentId{{id={cid}}}")

    def _storage(self, body) -> str | None:
        storage = (body or {}).get("storage") or {}
        if storage.get("representation") != "storage" or not isinstance(storage.get("value"), str):
            return None
        return storage["value"]

    # -- routes ----------------------------------------------------------------------------------

    def current_user(self, req):
        if self.deployment == "cloud":
            return json_response(
                200,
                {
                    "type": "known",
                    "accountId": "5b10ac8d82e05b22cc7d4ef5",
                    "email": self.email,
                    "displayName": "Jane Doe",
                },
            )
        return json_response(200, {"type": "known", "username": "jdoe", "displayName": "Jane Doe"})

    def get_space(self, req, key):
        if key != self.space_key:
            return self.error_response(404, f"No space found with key : {key}")
        return json_response(200, {"id": 98305, "key": key, "name": "Security", "type": "global"})

    def create_content(self, req):
        body = req.json or {}
        storage = self._storage(body.get("body"))
        with self.lock:
            if body.get("type") == "comment":
                container = str((body.get("container") or {}).get("id", ""))
                if container not in self.state["pages"]:
                    return self._not_found(container)
                if storage is None:
                    return self.error_response(400, "Body is required for a comment")
                self.state["next_id"] += 1
                self.state["pages"][container]["comments"].append(storage)
                return json_response(200, {"id": str(self.state["next_id"]), "type": "comment"})
            if body.get("type") != "page":
                return self.error_response(400, "Unsupported content type")
            space = (body.get("space") or {}).get("key")
            if space != self.space_key:
                return self.error_response(404, f"No space found with key : {space}")
            title = body.get("title") or ""
            if not title or storage is None:
                return self.error_response(400, "A page requires a title and a storage body")
            if any(p["title"] == title for p in self.state["pages"].values()):
                return self.error_response(
                    400,
                    f"A page with this title already exists: A page already "
                    f"exists with the title {title} in the space with key {space}",
                )
            ancestors = body.get("ancestors") or []
            if ancestors and str(ancestors[0].get("id")) not in self.state["pages"]:
                return self.error_response(
                    400, f"Could not find ancestor page {ancestors[0].get('id')}"
                )
            self.state["next_id"] += 1
            page = {
                "id": str(self.state["next_id"]),
                "title": title,
                "space": space,
                "body": storage,
                "version": 1,
                "ancestors": ancestors,
                "comments": [],
                "history": [storage],
                "labels": [lb["name"] for lb in ((body.get("metadata") or {}).get("labels") or [])],
            }
            self.state["pages"][page["id"]] = page
            return json_response(200, self._public(page))

    def get_content(self, req, cid):
        with self.lock:
            page = self.state["pages"].get(cid)
            return self._not_found(cid) if page is None else json_response(200, self._public(page))

    def list_content(self, req):
        with self.lock:
            pages = [
                p
                for p in self.state["pages"].values()
                if p["space"] == req.arg("spaceKey") and (req.arg("title") in (None, p["title"]))
            ]
            return json_response(
                200,
                {
                    "results": [self._public(p) for p in pages],
                    "start": 0,
                    "limit": 25,
                    "size": len(pages),
                    "_links": {"base": self.root},
                },
            )

    def update_content(self, req, cid):
        body = req.json or {}
        with self.lock:
            page = self.state["pages"].get(cid)
            if page is None:
                return self._not_found(cid)
            if self._concurrent_edits:
                self._concurrent_edits -= 1
                page["version"] += 1
                page["history"].append(page["body"])
            number = (body.get("version") or {}).get("number")
            if number != page["version"] + 1:
                return self.error_response(
                    409,
                    f"Version must be incremented on update. Current version is: {page['version']}",
                )
            storage = self._storage(body.get("body"))
            if storage is None or not body.get("title"):
                return self.error_response(400, "A page requires a title and a storage body")
            page.update(
                title=body["title"],
                body=storage,
                version=number,
                message=(body.get("version") or {}).get("message", ""),
            )
            page["history"].append(storage)
            return json_response(200, self._public(page))

    def add_labels(self, req, cid):
        labels = req.json if isinstance(req.json, list) else []
        with self.lock:
            page = self.state["pages"].get(cid)
            if page is None:
                return self._not_found(cid)
            for label in labels:
                if label.get("name") and label["name"] not in page["labels"]:
                    page["labels"].append(label["name"])
            return json_response(200, self._public(page)["metadata"]["labels"])

    def remove_label(self, req, cid, label):
        with self.lock:
            page = self.state["pages"].get(cid)
            if page is None:
                return self._not_found(cid)
            if label not in page["labels"]:
                return self.error_response(404, f"Label {label} is not on content {cid}")
            page["labels"].remove(label)
            return Response(204)

    def search(self, req):
        m = _CQL.match(req.arg("cql", "") or "")
        if not m:
            return self.error_response(400, f"Could not parse cql : {req.arg('cql')}")
        start, limit = int(req.arg("start", "0")), int(req.arg("limit", "25"))
        with self.lock:
            found = sorted(
                (
                    p
                    for p in self.state["pages"].values()
                    if p["space"] == m.group("space") and m.group("label") in p["labels"]
                ),
                key=lambda p: int(p["id"]),
            )
            page = found[start : start + limit]
            links = {"base": self.root}
            if start + limit < len(found):
                params = {k: v[-1] for k, v in req.query.items()}
                links["next"] = f"{req.path}?{urlencode({**params, 'start': start + limit})}"
            return json_response(
                200,
                {
                    "results": [self._public(p) for p in page],
                    "start": start,
                    "limit": limit,
                    "size": len(page),
                    "_links": links,
                },
            )
