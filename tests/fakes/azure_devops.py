"""Fake Azure DevOps Services (REST 7.1) for one organisation: projects, work items created
and updated with JSON Patch (application/json-patch+json only; add/replace/test ops; a failed
`test /rev` answers 412), states of the Agile Bug, tags "a; b", System.History comments, WIQL
(tags CONTAINS), work items batch by ids. PAT basic auth (any user name); 401 with
TF400813 or, with sign_in_page=True, 203 + the HTML sign-in page like the real service."""

from __future__ import annotations

import base64
import re
import time
import uuid
from datetime import UTC, datetime

from tests.fakes.base import FakeServer, RecordedRequest, Response, json_response
from tests.fakes.webhooks import Delivery, WebhookSender

STATES = ("New", "Active", "Resolved", "Closed")
_WIQL = re.compile(r"\[System\.Tags\]\s+CONTAINS\s+'((?:[^']|'')*)'", re.IGNORECASE)


class FakeAzureDevOps(WebhookSender, FakeServer):
    name = "azure_devops"
    routes = (
        ("GET", r"/(?P<org>[^/_][^/]*)/_apis/projects/(?P<project>[^/]+)", "get_project"),
        (
            "POST",
            r"/(?P<org>[^/_][^/]*)/(?P<project>[^/]+)/_apis/wit/workitems/\$(?P<wtype>[^/]+)",
            "create_item",
        ),
        (
            "GET",
            r"/(?P<org>[^/_][^/]*)/(?P<project>[^/]+)/_apis/wit/workitems/(?P<item_id>\d+)",
            "get_item",
        ),
        (
            "PATCH",
            r"/(?P<org>[^/_][^/]*)/(?P<project>[^/]+)/_apis/wit/workitems/(?P<item_id>\d+)",
            "update_item",
        ),
        ("GET", r"/(?P<org>[^/_][^/]*)/(?P<project>[^/]+)/_apis/wit/workitems", "list_items"),
        ("POST", r"/(?P<org>[^/_][^/]*)/(?P<project>[^/]+)/_apis/wit/wiql", "wiql"),
    )

    def __init__(
        self,
        *,
        token: str = "ado-pat",
        org: str = "acme",
        project: str = "Security",
        sign_in_page: bool = False,
        hook_style: str = "current",
    ) -> None:
        self.token, self.org, self.project = token, org, project
        self.sign_in_page = sign_in_page
        # Service-hook payloads: "current" (revisedBy identity, workItemId set, ChangedBy
        # "Name <email>") or "legacy" (the 2016 shape: revisedBy null, workItemId 0, the work
        # item only in revision.id, ChangedBy a display name).
        self.hook_style = hook_style
        super().__init__()

    def reset_state(self) -> None:
        self.state = {"items": {}, "next_id": 100}

    def config(self, **settings) -> dict:
        return {
            "kind": "azure_devops",
            "base_url": f"{self.url}/{self.org}",
            "credentials": {"token": self.token},
            "settings": {"project": self.project, **settings},
        }

    def check_auth(self, req: RecordedRequest) -> Response | None:
        header = req.header("Authorization")
        if header.startswith("Basic "):
            try:
                _, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                password = ""
            if password == self.token:
                return None
        if self.sign_in_page:
            return Response(
                203,
                "<html><head><title>Azure DevOps Services | Sign In</title></head></html>",
                {"Content-Type": "text/html; charset=utf-8"},
            )
        return self.error_response(
            401, "TF400813: The user '' is not authorized to access this resource."
        )

    def error_response(self, status, message, headers=None):
        return Response(
            status,
            {
                "$id": "1",
                "innerException": None,
                "message": message,
                "typeName": "Microsoft.VisualStudio.Services.Common.VssServiceException",
                "typeKey": "VssServiceException",
                "errorCode": 0,
                "eventId": 3000,
            },
            headers or {},
        )

    def rate_limit_headers(self, retry_after):
        headers = {
            "X-RateLimit-Resource": "Core",
            "X-RateLimit-Delay": "0.5",
            "X-RateLimit-Limit": "200",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(time.time()) + 300),
        }
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        return headers

    def with_reference(self, reference: str) -> list[dict]:
        with self.lock:
            return [
                i
                for i in self.state["items"].values()
                if reference in [t.strip() for t in i["fields"].get("System.Tags", "").split(";")]
            ]

    # -- helpers ---------------------------------------------------------------------------------

    def _scope_error(self, req, org, project) -> Response | None:
        if org != self.org:
            return self.error_response(404, f"VS800075: The organization {org} does not exist.")
        if project is not None and project != self.project:
            return self.error_response(
                404, f"TF200016: The following project does not exist: {project}."
            )
        if not req.arg("api-version"):
            return self.error_response(
                400, f"No api-version was supplied for the {req.method} request."
            )
        return None

    def _public(self, item) -> dict:
        return {
            "id": item["id"],
            "rev": item["rev"],
            "fields": dict(item["fields"]),
            "url": f"{self.url}/{self.org}/{self.project}/_apis/wit/workItems/{item['id']}",
            "_links": {
                "html": {
                    "href": f"{self.url}/{self.org}/{self.project}/_workitems/edit/{item['id']}"
                }
            },
        }

    def _apply(self, item, ops) -> Response | None:
        if not isinstance(ops, list):
            return self.error_response(
                400, "You must pass a valid patch document in the body of the request."
            )
        for op in ops:
            kind, path = op.get("op"), op.get("path", "")
            if kind == "test":
                if path == "/rev" and op.get("value") != item["rev"]:
                    return self.error_response(
                        412,
                        f"TF401289: The test operation on /rev failed: "
                        f"expected {op.get('value')}, found {item['rev']}.",
                    )
                continue
            if kind not in ("add", "replace") or not path.startswith("/fields/"):
                return self.error_response(400, f"Operation {kind} on {path} is not supported.")
            field = path[len("/fields/") :]
            value = op.get("value")
            if field == "System.State" and value not in STATES:
                return self.error_response(
                    400,
                    f"TF401320: Rule Error for field State. Error code: "
                    f"LimitedToValues, value '{value}' is not in the list "
                    f"of supported values.",
                )
            if field == "System.History":
                item["comments"].append(value)
            elif field == "System.Tags":
                item["fields"][field] = "; ".join(
                    t.strip() for t in str(value).split(";") if t.strip()
                )
            else:
                item["fields"][field] = value
        if not item["fields"].get("System.Title"):
            return self.error_response(
                400, "TF401320: Rule Error for field Title. Error code: Required, InvalidEmpty."
            )
        return None

    def _content_type_error(self, req) -> Response | None:
        if req.header("Content-Type").split(";")[0].strip() != "application/json-patch+json":
            return self.error_response(
                415,
                f"The request indicated a Content-Type of "
                f'"{req.header("Content-Type")}" for method type '
                f'"{req.method}" which is not supported. Valid content '
                f"types for this method are: application/json-patch+json.",
            )
        return None

    # -- routes ----------------------------------------------------------------------------------

    def get_project(self, req, org, project):
        if (bad := self._scope_error(req, org, project)) is not None:
            return bad
        return json_response(
            200,
            {
                "id": "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c",
                "name": self.project,
                "state": "wellFormed",
            },
        )

    def create_item(self, req, org, project, wtype):
        if (
            bad := self._scope_error(req, org, project) or self._content_type_error(req)
        ) is not None:
            return bad
        if wtype not in ("Bug", "Task", "Issue", "User%20Story"):
            return self.error_response(
                404, f"VS402323: Work item type {wtype} does not exist in project {project}."
            )
        with self.lock:
            self.state["next_id"] += 1
            item = {
                "id": self.state["next_id"],
                "rev": 1,
                "comments": [],
                "fields": {
                    "System.WorkItemType": wtype,
                    "System.State": "New",
                    "System.TeamProject": project,
                },
            }
            if (bad := self._apply(item, req.json)) is not None:
                return bad
            self.state["items"][item["id"]] = item
            return json_response(200, self._public(item))

    def get_item(self, req, org, project, item_id):
        if (bad := self._scope_error(req, org, project)) is not None:
            return bad
        with self.lock:
            item = self.state["items"].get(int(item_id))
            if item is None:
                return self.error_response(
                    404,
                    f"TF401232: Work item {item_id} does not exist, "
                    "or you do not have permissions to read it.",
                )
            return json_response(200, self._public(item))

    def update_item(self, req, org, project, item_id):
        if (
            bad := self._scope_error(req, org, project) or self._content_type_error(req)
        ) is not None:
            return bad
        with self.lock:
            item = self.state["items"].get(int(item_id))
            if item is None:
                return self.error_response(
                    404,
                    f"TF401232: Work item {item_id} does not exist, "
                    "or you do not have permissions to read it.",
                )
            draft = {**item, "fields": dict(item["fields"]), "comments": list(item["comments"])}
            if (bad := self._apply(draft, req.json)) is not None:
                return bad
            item["rev"] += 1
            item["fields"].clear()
            item["fields"].update(draft["fields"])
            item["comments"][:] = draft["comments"]
            return json_response(200, self._public(item))

    def list_items(self, req, org, project):
        if (bad := self._scope_error(req, org, project)) is not None:
            return bad
        ids = [int(x) for x in (req.arg("ids") or "").split(",") if x]
        if not ids or len(ids) > 200:
            return self.error_response(
                400, "VS402337: The number of ids must be between 1 and 200."
            )
        with self.lock:
            found = [self._public(self.state["items"][i]) for i in ids if i in self.state["items"]]
            return json_response(200, {"count": len(found), "value": found})

    def wiql(self, req, org, project):
        if (bad := self._scope_error(req, org, project)) is not None:
            return bad
        query = (req.json or {}).get("query", "")
        m = _WIQL.search(query)
        if not m or "@project" not in query:
            return self.error_response(
                400, "TF51005: The query references a field that does not exist."
            )
        tag = m.group(1).replace("''", "'")
        top = int(req.arg("$top", "20000"))
        with self.lock:
            ids = sorted(
                i["id"]
                for i in self.state["items"].values()
                if tag.casefold()
                in [t.strip().casefold() for t in i["fields"].get("System.Tags", "").split(";")]
            )
            return json_response(
                200,
                {
                    "queryType": "flat",
                    "queryResultType": "workItem",
                    "asOf": "2026-01-01T00:00:00Z",
                    "columns": [{"referenceName": "System.Id", "name": "ID"}],
                    "workItems": [
                        {"id": i, "url": f"{self.url}/{self.org}/_apis/wit/workItems/{i}"}
                        for i in ids[:top]
                    ],
                },
            )

    # -- webhooks: the sending side --------------------------------------------------------------
    # A service-hook subscription, as POST {org}/_apis/hooks/subscriptions registers it
    # ({"publisherId": "tfs", "eventType", "consumerId": "webHooks", "consumerActionId":
    # "httpRequest", "consumerInputs": {"url", "basicAuthUsername", "basicAuthPassword",
    # "httpHeaders", "resourceDetailsToSend": "all"}}):
    # subscribe_webhook(target, secret=<password or header value>, events=["workitem.updated"],
    # auth="basic"|"header", username="fixops", header="X-FixOps-Token").
    # https://learn.microsoft.com/en-us/azure/devops/service-hooks/consumers#web-hooks (no HMAC:
    # basic auth or custom headers). Payloads per
    # https://learn.microsoft.com/en-us/azure/devops/service-hooks/events and the ASP.NET
    # fixture https://github.com/aspnet/WebHooks/blob/6930cc71681c55ccdcb5e4ea72ebf5be1601624e/test/Microsoft.AspNet.WebHooks.Receivers.TFS.Test/Messages/workitem.updated.json

    def sign(self, body, sub, *, event, at=None, **_):
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if sub.options.get("auth") == "header":
            headers[sub.options.get("header", "X-FixOps-Token")] = sub.secret
        elif sub.secret:
            pair = f"{sub.options.get('username', 'fixops')}:{sub.secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return headers

    def _identity(self, actor: str) -> dict:
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, actor)),
            "displayName": actor.split("@", maxsplit=1)[0].title(),
            "uniqueName": actor,
        }

    def _changed_by(self, actor: str) -> str:
        name = actor.split("@", maxsplit=1)[0].title()
        return name if self.hook_style == "legacy" else f"{name} <{actor}>"

    def _envelope(self, event: str, resource: dict, text: str) -> dict:
        return {
            "subscriptionId": "6ad9c3d6-1d5b-4b5e-9d2b-0f5b7e0c1a11",
            "notificationId": len(getattr(self, "deliveries", [])) + 1,
            "id": str(uuid.uuid4()),
            "eventType": event,
            "publisherId": "tfs",
            "message": {"text": text, "html": text, "markdown": text},
            "detailedMessage": {"text": text, "html": text, "markdown": text},
            "resource": resource,
            "resourceVersion": "1.0",
            "resourceContainers": {
                "collection": {"id": "c12d0eb8-e382-443b-9f9c-c52cba5014c2"},
                "account": {"id": "f844ec47-a9db-4511-8281-8b63f4eaf94e"},
                "project": {"id": "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c"},
            },
            "createdDate": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z"),
        }

    def transition_issue(
        self,
        item_id: int,
        status: str,
        *,
        resolution: str | None = None,
        actor: str = "jamal@acme.test",
    ) -> list[Delivery]:
        """Someone moves work item `item_id` to state `status` (with a ResolvedReason such as
        "Won't Fix"): a `workitem.updated` event."""
        with self.lock:
            item = self.state["items"][int(item_id)]
            before = item["fields"]["System.State"]
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            changed_before = item["fields"].get("System.ChangedDate", now)
            item["rev"] += 1
            item["fields"]["System.State"] = status
            item["fields"]["System.ChangedDate"] = now
            item["fields"]["System.ChangedBy"] = self._changed_by(actor)
            changes = {
                "System.Rev": {"oldValue": item["rev"] - 1, "newValue": item["rev"]},
                "System.State": {"oldValue": before, "newValue": status},
                "System.ChangedDate": {"oldValue": changed_before, "newValue": now},
            }
            if resolution is not None:
                item["fields"]["Microsoft.VSTS.Common.ResolvedReason"] = resolution
                changes["Microsoft.VSTS.Common.ResolvedReason"] = {"newValue": resolution}
            legacy = self.hook_style == "legacy"
            base = f"{self.url}/{self.org}/_apis/wit/workItems/{item['id']}"
            resource = {
                "id": item["rev"] - 1,
                "workItemId": 0 if legacy else item["id"],
                "rev": item["rev"],
                "revisedBy": None if legacy else self._identity(actor),
                "revisedDate": "0001-01-01T00:00:00" if legacy else "9999-01-01T00:00:00Z",
                "fields": changes,
                "_links": {
                    "self": {"href": f"{base}/updates/{item['rev'] - 1}"},
                    "parent": {"href": base},
                    "workItemUpdates": {"href": f"{base}/updates"},
                },
                "url": f"{base}/updates/{item['rev'] - 1}",
                "revision": {
                    "id": item["id"],
                    "rev": item["rev"],
                    "fields": dict(item["fields"]),
                    "url": f"{base}/revisions/{item['rev']}",
                },
            }
            payload = self._envelope(
                "workitem.updated",
                resource,
                f"Bug #{item['id']} ({item['fields'].get('System.Title')}) updated by {actor}.",
            )
        return self._emit("workitem.updated", payload)

    def comment_as(
        self, item_id: int, body: str, *, actor: str = "jamal@acme.test"
    ) -> list[Delivery]:
        """Someone comments on work item `item_id`: a `workitem.commented` event."""
        with self.lock:
            item = self.state["items"][int(item_id)]
            item["rev"] += 1
            item["comments"].append(body)
            item["fields"]["System.ChangedBy"] = self._changed_by(actor)
            item["fields"]["System.ChangedDate"] = datetime.now(UTC).isoformat()
            resource = {**self._public(item), "fields": {**item["fields"], "System.History": body}}
            payload = self._envelope(
                "workitem.commented", resource, f"Bug #{item['id']} commented on by {actor}."
            )
        return self._emit("workitem.commented", payload)

    def delete_issue(self, item_id: int, *, actor: str = "jamal@acme.test") -> list[Delivery]:
        """Someone deletes work item `item_id`: a `workitem.deleted` event."""
        with self.lock:
            item = self.state["items"].pop(int(item_id))
            item["fields"]["System.ChangedBy"] = self._changed_by(actor)
            payload = self._envelope(
                "workitem.deleted", self._public(item), f"Bug #{item['id']} deleted by {actor}."
            )
        return self._emit("workitem.deleted", payload)

    # Registering by API: POST {org}/_apis/hooks/subscriptions
    # (https://learn.microsoft.com/en-us/rest/api/azure/devops/hooks/subscriptions/create);
    # `httpHeaders` is one "Key:value" per line.
    routes = routes + (
        ("POST", r"/(?P<org>[^/_][^/]*)/_apis/hooks/subscriptions", "create_subscription"),
    )

    def create_subscription(self, req, org):
        if (bad := self._scope_error(req, org, None)) is not None:
            return bad
        body = req.json or {}
        inputs = body.get("consumerInputs") or {}
        if body.get("consumerId") != "webHooks" or not inputs.get("url"):
            return self.error_response(400, "VS1000000: consumerInputs.url is required.")
        # The service refuses basic auth over plain http; the fake lets loopback through.
        plain = not inputs["url"].startswith(("https://", "http://127.0.0.1"))
        if inputs.get("basicAuthPassword") and plain:
            return self.error_response(400, "Basic authentication requires HTTPS.")
        headers = dict(
            line.split(":", 1)
            for line in (inputs.get("httpHeaders") or "").splitlines()
            if ":" in line
        )
        if inputs.get("basicAuthPassword"):
            self.subscribe_webhook(
                inputs["url"],
                secret=inputs["basicAuthPassword"],
                events=[body.get("eventType", "")],
                username=inputs.get("basicAuthUsername", ""),
            )
        elif headers:
            name, value = next(iter(headers.items()))
            self.subscribe_webhook(
                inputs["url"],
                secret=value.strip(),
                events=[body.get("eventType", "")],
                auth="header",
                header=name.strip(),
            )
        else:
            self.subscribe_webhook(inputs["url"], events=[body.get("eventType", "")])
        return json_response(
            200,
            {
                "id": str(uuid.uuid4()),
                "status": "enabled",
                "publisherId": body.get("publisherId", "tfs"),
                "eventType": body.get("eventType"),
                "consumerId": "webHooks",
                "consumerActionId": body.get("consumerActionId", "httpRequest"),
                # Secrets come back masked (the portal shows them as ********).
                "consumerInputs": {
                    **inputs,
                    **({"basicAuthPassword": "********"} if "basicAuthPassword" in inputs else {}),
                    **(
                        {"httpHeaders": "\n".join(f"{k}:********" for k in headers)}
                        if headers
                        else {}
                    ),
                },
                "probationRetries": 0,
            },
        )
