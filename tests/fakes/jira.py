"""Fake Jira: Cloud (REST v3, basic email:api_token, ADF, search/jql with nextPageToken and
optional index lag + reconcileIssues) or Data Center (REST v2, PAT bearer, wiki text,
search with startAt/maxResults/total)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

from tests.fakes.base import FakeServer, RecordedRequest, Response, json_response
from tests.fakes.webhooks import Delivery, WebhookSender

STATUSES = {
    "To Do": {"id": "10000", "name": "To Do", "statusCategory": {"key": "new", "name": "To Do"}},
    "In Progress": {
        "id": "3",
        "name": "In Progress",
        "statusCategory": {"key": "indeterminate", "name": "In Progress"},
    },
    "Done": {"id": "10001", "name": "Done", "statusCategory": {"key": "done", "name": "Done"}},
}
# id, name, from statuses, to status
WORKFLOW = (
    ("11", "Start Progress", ("To Do",), "In Progress"),
    ("31", "Done", ("To Do", "In Progress"), "Done"),
    ("41", "Reopen", ("Done",), "To Do"),
)
_JQL = re.compile(
    r'^project\s*=\s*"(?P<project>(?:[^"\\]|\\.)*)"\s+AND\s+labels\s*=\s*"(?P<label>(?:[^"\\]|\\.)*)"'
    r"(?:\s+ORDER BY created ASC)?$"
)


class FakeJira(WebhookSender, FakeServer):
    name = "jira"
    routes = (
        ("GET", r"/rest/api/(?P<v>[23])/myself", "myself"),
        ("GET", r"/rest/api/(?P<v>[23])/project/(?P<key>[^/]+)", "project"),
        ("POST", r"/rest/api/(?P<v>[23])/issue", "create_issue"),
        ("GET", r"/rest/api/(?P<v>[23])/issue/(?P<key>[^/]+)", "get_issue"),
        ("PUT", r"/rest/api/(?P<v>[23])/issue/(?P<key>[^/]+)", "edit_issue"),
        ("GET", r"/rest/api/(?P<v>[23])/issue/(?P<key>[^/]+)/transitions", "get_transitions"),
        ("POST", r"/rest/api/(?P<v>[23])/issue/(?P<key>[^/]+)/transitions", "do_transition"),
        ("POST", r"/rest/api/(?P<v>[23])/issue/(?P<key>[^/]+)/comment", "add_comment"),
        ("POST", r"/rest/api/3/search/jql", "search_jql"),
        ("GET", r"/rest/api/3/search/jql", "search_jql"),
        ("GET", r"/rest/api/2/search", "search_dc"),
    )

    def __init__(
        self,
        *,
        deployment: str = "cloud",
        email: str = "jane@acme.test",
        api_token: str = "jira-token",
        pat: str = "jira-pat",
        project_key: str = "SEC",
        index_lag: float = 0.0,
    ) -> None:
        self.deployment = deployment
        self.email, self.api_token, self.pat = email, api_token, pat
        self.project_key = project_key
        self.index_lag = index_lag  # Cloud search/jql misses issues younger than this
        super().__init__()

    def reset_state(self) -> None:
        self.state = {"issues": {}, "next_id": 10000, "next_number": 1}

    @property
    def version(self) -> str:
        return "3" if self.deployment == "cloud" else "2"

    # -- contract ---------------------------------------------------------------------------------

    def check_auth(self, req: RecordedRequest) -> Response | None:
        header = req.header("Authorization")
        if self.deployment == "cloud":
            expected = (
                "Basic " + base64.b64encode(f"{self.email}:{self.api_token}".encode()).decode()
            )
        else:
            expected = f"Bearer {self.pat}"
        if header == expected:
            return None
        return Response(
            401,
            "Client must be authenticated to access this resource.",
            {"WWW-Authenticate": 'Basic realm="protected-area"'},
        )

    def error_response(self, status, message, headers=None):
        return Response(status, {"errorMessages": [message], "errors": {}}, headers or {})

    def rate_limit_headers(self, retry_after):
        headers = {
            "X-RateLimit-Limit": "100",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": (datetime.now(UTC) + timedelta(seconds=30)).isoformat(),
            "RateLimit-Reason": "jira-burst-based",
        }
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        return headers

    def config(self, **settings) -> dict:
        """kind/base_url/credentials/settings of an integration pointing at this fake."""
        if self.deployment == "cloud":
            credentials = {"email": self.email, "api_token": self.api_token}
        else:
            credentials = {"token": self.pat}
        return {
            "kind": "jira",
            "base_url": self.url,
            "credentials": credentials,
            "settings": {
                "project_key": self.project_key,
                "issue_type": "Bug",
                "deployment": self.deployment,
                **settings,
            },
        }

    def with_reference(self, reference: str) -> list[dict]:
        with self.lock:
            return [i for i in self.state["issues"].values() if reference in i["fields"]["labels"]]

    # -- helpers ---------------------------------------------------------------------------------

    def _wrong_version(self, v: str) -> Response | None:
        if v != self.version:
            return self.error_response(404, f"REST API v{v} is not served by this Jira")
        return None

    def _issue(self, key: str) -> dict | None:
        issues = self.state["issues"]
        if key in issues:
            return issues[key]
        return next((i for i in issues.values() if i["id"] == key), None)

    def _public(self, issue: dict, fields: list[str] | None = None) -> dict:
        data = {k: v for k, v in issue["fields"].items() if fields is None or k in fields}
        return {
            "id": issue["id"],
            "key": issue["key"],
            "self": f"{self.url}/rest/api/{self.version}/issue/{issue['id']}",
            "fields": data,
        }

    def _bad_description(self, value) -> str | None:
        if self.deployment == "cloud":
            if not (
                isinstance(value, dict) and value.get("type") == "doc" and value.get("version") == 1
            ):
                return (
                    "Operation value must be an Atlassian Document "
                    "(see the Atlassian Document Format)"
                )
        elif not isinstance(value, str):
            return "Operation value must be a string"
        return None

    def _validate_fields(self, fields: dict, *, create: bool) -> dict:
        errors = {}
        if create:
            if (fields.get("project") or {}).get("key") != self.project_key:
                errors["project"] = "valid project is required"
            if not (fields.get("issuetype") or {}).get("name"):
                errors["issuetype"] = "Specify an issue type"
        if create or "summary" in fields:
            summary = fields.get("summary")
            if not summary:
                errors["summary"] = "You must specify a summary of the issue."
            elif len(summary) > 255:
                errors["summary"] = "Summary must be less than 255 characters."
        if "description" in fields:
            problem = self._bad_description(fields["description"])
            if problem:
                errors["description"] = problem
        for label in fields.get("labels", []):
            if " " in label:
                errors["labels"] = "The label 'x y' contains spaces which is invalid."
        return errors

    # -- routes ----------------------------------------------------------------------------------

    def myself(self, req, v):
        if (bad := self._wrong_version(v)) is not None:
            return bad
        if self.deployment == "cloud":
            return json_response(
                200,
                {
                    "accountId": "5b10a2844c20165700ede21g",
                    "emailAddress": self.email,
                    "displayName": "Jane Doe",
                    "active": True,
                },
            )
        return json_response(
            200,
            {
                "name": "jdoe",
                "key": "JIRAUSER10100",
                "emailAddress": self.email,
                "displayName": "Jane Doe",
                "active": True,
            },
        )

    def project(self, req, v, key):
        if key != self.project_key:
            return self.error_response(404, f"No project could be found with key '{key}'.")
        return json_response(200, {"id": "10000", "key": key, "name": "Security"})

    def create_issue(self, req, v):
        if (bad := self._wrong_version(v)) is not None:
            return bad
        fields = dict((req.json or {}).get("fields") or {})
        errors = self._validate_fields(fields, create=True)
        if errors:
            return json_response(400, {"errorMessages": [], "errors": errors})
        with self.lock:
            issue_id = str(self.state["next_id"])
            key = f"{self.project_key}-{self.state['next_number']}"
            self.state["next_id"] += 1
            self.state["next_number"] += 1
            fields.setdefault("labels", [])
            fields["status"] = dict(STATUSES["To Do"])
            self.state["issues"][key] = {
                "id": issue_id,
                "key": key,
                "fields": fields,
                "comments": [],
                "created": time.monotonic(),
                "transitions": [],
            }
        return json_response(
            201, {"id": issue_id, "key": key, "self": f"{self.url}/rest/api/{v}/issue/{issue_id}"}
        )

    def get_issue(self, req, v, key):
        with self.lock:
            issue = self._issue(key)
            if issue is None:
                return self.error_response(
                    404, "Issue does not exist or you do not have permission to see it."
                )
            wanted = req.arg("fields")
            return json_response(200, self._public(issue, wanted.split(",") if wanted else None))

    def edit_issue(self, req, v, key):
        fields = (req.json or {}).get("fields") or {}
        errors = self._validate_fields(fields, create=False)
        if errors:
            return json_response(400, {"errorMessages": [], "errors": errors})
        with self.lock:
            issue = self._issue(key)
            if issue is None:
                return self.error_response(
                    404, "Issue does not exist or you do not have permission to see it."
                )
            issue["fields"].update(
                {k: v for k, v in fields.items() if k not in ("status", "project")}
            )
        return Response(204)

    def _available(self, issue):
        current = issue["fields"]["status"]["name"]
        return [
            {"id": tid, "name": name, "hasScreen": False, "to": STATUSES[to], "fields": {}}
            for tid, name, sources, to in WORKFLOW
            if current in sources
        ]

    def get_transitions(self, req, v, key):
        with self.lock:
            issue = self._issue(key)
            if issue is None:
                return self.error_response(
                    404, "Issue does not exist or you do not have permission to see it."
                )
            return json_response(
                200, {"expand": "transitions", "transitions": self._available(issue)}
            )

    def do_transition(self, req, v, key):
        body = req.json or {}
        tid = str((body.get("transition") or {}).get("id", ""))
        with self.lock:
            issue = self._issue(key)
            if issue is None:
                return self.error_response(
                    404, "Issue does not exist or you do not have permission to see it."
                )
            match = next((t for t in self._available(issue) if t["id"] == tid), None)
            if match is None:
                return json_response(
                    400,
                    {
                        "errorMessages": [f"Transition id '{tid}' is not valid for this issue."],
                        "errors": {},
                    },
                )
            if body.get("fields"):
                field = next(iter(body["fields"]))
                return json_response(
                    400,
                    {
                        "errorMessages": [],
                        "errors": {
                            field: f"Field '{field}' cannot be set. It is not on the "
                            "appropriate screen, or unknown."
                        },
                    },
                )
            issue["fields"]["status"] = dict(match["to"])
            issue["transitions"].append(match["name"])
        return Response(204)

    def add_comment(self, req, v, key):
        body = (req.json or {}).get("body")
        if self._bad_description(body):
            return json_response(
                400, {"errorMessages": [], "errors": {"comment": "Comment body is not valid"}}
            )
        with self.lock:
            issue = self._issue(key)
            if issue is None:
                return self.error_response(
                    404, "Issue does not exist or you do not have permission to see it."
                )
            cid = str(10000 + sum(len(i["comments"]) for i in self.state["issues"].values()))
            issue["comments"].append({"id": cid, "body": body})
        return json_response(
            201,
            {
                "id": cid,
                "body": body,
                "self": f"{self.url}/rest/api/{v}/issue/{issue['id']}/comment/{cid}",
            },
        )

    def _matches(self, jql: str) -> list[dict] | Response:
        m = _JQL.match(jql.strip())
        if not m:
            return json_response(
                400,
                {"errorMessages": [f"Error in the JQL Query: cannot parse '{jql}'."], "errors": {}},
            )
        project = m.group("project").replace('\\"', '"')
        label = m.group("label").replace('\\"', '"').replace("\\\\", "\\")
        return sorted(
            (
                i
                for i in self.state["issues"].values()
                if i["key"].startswith(project + "-") and label in i["fields"]["labels"]
            ),
            key=lambda i: int(i["id"]),
        )

    def search_jql(self, req, **_):
        body = (
            req.json
            if req.method == "POST"
            else {
                "jql": req.arg("jql", ""),
                "maxResults": int(req.arg("maxResults", "50")),
                "nextPageToken": req.arg("nextPageToken"),
                "fields": (req.arg("fields") or "").split(","),
            }
        )
        body = body or {}
        with self.lock:
            found = self._matches(body.get("jql", ""))
            if isinstance(found, Response):
                return found
            reconcile = {str(x) for x in body.get("reconcileIssues") or []}
            now = time.monotonic()
            found = [
                i for i in found if now - i["created"] >= self.index_lag or i["id"] in reconcile
            ]
            start = int(body.get("nextPageToken") or 0)
            size = min(int(body.get("maxResults") or 50), 5000)
            page = found[start : start + size]
            fields = body.get("fields") or []
            data = {
                "issues": [self._public(i, fields) if fields else {"id": i["id"]} for i in page]
            }
            if start + size < len(found):
                data["nextPageToken"] = str(start + size)
                data["isLast"] = False
            else:
                data["isLast"] = True
        return json_response(200, data)

    def search_dc(self, req):
        with self.lock:
            found = self._matches(req.arg("jql", ""))
            if isinstance(found, Response):
                return found
            start = int(req.arg("startAt", "0"))
            size = int(req.arg("maxResults", "50"))
            fields = (req.arg("fields") or "").split(",") if req.arg("fields") else None
            page = found[start : start + size]
            return json_response(
                200,
                {
                    "startAt": start,
                    "maxResults": size,
                    "total": len(found),
                    "issues": [self._public(i, fields) for i in page],
                },
            )

    # -- webhooks: the sending side --------------------------------------------------------------
    # An admin webhook with a secret, as System > WebHooks or POST /rest/webhooks/1.0/webhook
    # registers it ({"name", "url", "events", "secret"}); deliveries are signed
    # `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>` and carry
    # `X-Atlassian-Webhook-Identifier` and `X-Atlassian-Webhook-Retry`:
    # https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks,
    # https://community.developer.atlassian.com/t/new-jira-cloud-webhook-retry-policy/30554.
    # Bodies follow the documented callbacks
    # (https://developer.atlassian.com/cloud/jira/platform/webhooks/#example-callback-for-an-issue-related-event,
    # https://developer.atlassian.com/server/jira/platform/webhooks/): the Cloud user is an
    # `accountId`, the Data Center user a `name`/`key`; changelog items carry `fieldId` on Cloud.

    def sign(self, body, sub, *, event, at=None, delivery_id=None, retry=0, **_):
        digest = hmac.new(sub.secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "User-Agent": "Atlassian Webhook HTTP Client",
            "X-Atlassian-Webhook-Identifier": delivery_id or str(uuid.uuid4()),
            "X-Atlassian-Webhook-Retry": str(retry),
        }
        if sub.secret:
            headers["X-Hub-Signature"] = f"sha256={digest}"
        return headers

    def webhook_user(self, actor: str | None = None) -> dict:
        """The `user` object of a callback for `actor` (accountId on Cloud, name on DC)."""
        if self.deployment == "cloud":
            account = actor or "5b10a2844c20165700ede21g"
            return {
                "self": f"{self.url}/rest/api/2/user?accountId={account}",
                "accountId": account,
                "displayName": "Jira User",
                "active": True,
                "timeZone": "Europe/Paris",
                "accountType": "atlassian",
            }
        name = actor or "jdoe"
        return {
            "self": f"{self.url}/rest/api/2/user?username={name}",
            "name": name,
            "key": f"JIRAUSER-{name}",
            "emailAddress": f"{name}@acme.test",
            "displayName": "Jira User",
            "active": True,
            "timeZone": "Europe/Paris",
        }

    def _callback_issue(self, issue: dict) -> dict:
        return {
            "id": issue["id"],
            "self": f"{self.url}/rest/api/2/issue/{issue['id']}",
            "key": issue["key"],
            "fields": {k: v for k, v in issue["fields"].items() if k != "description"},
        }

    def _callback(self, event: str, issue: dict, actor: str | None, **extra) -> dict:
        body = {
            "timestamp": int(time.time() * 1000),
            "webhookEvent": event,
            "user": self.webhook_user(actor),
            "issue": self._callback_issue(issue),
        }
        body.update(extra)
        return body

    def transition_issue(
        self, key: str, status: str, *, resolution: str | None = None, actor: str | None = None
    ) -> list[Delivery]:
        """Someone moves `key` to `status` at Jira (with a resolution, e.g. "Won't Do"): the
        issue changes and a `jira:issue_updated` callback goes to every subscription."""
        with self.lock:
            issue = self._issue(key)
            before = issue["fields"]["status"]
            old_resolution = issue["fields"].get("resolution")
            issue["fields"]["status"] = dict(STATUSES[status])
            if STATUSES[status]["statusCategory"]["key"] == "done":
                issue["fields"]["resolution"] = {
                    "self": f"{self.url}/rest/api/2/resolution/1",
                    "id": "1",
                    "name": resolution or "Done",
                }
            else:
                issue["fields"]["resolution"] = None
            issue["transitions"].append(f"remote:{status}")
            items = [
                self._item("status", before["id"], before["name"], STATUSES[status]["id"], status)
            ]
            new_resolution = issue["fields"]["resolution"]
            if (old_resolution or {}).get("name") != (new_resolution or {}).get("name"):
                items.append(
                    self._item(
                        "resolution",
                        (old_resolution or {}).get("id"),
                        (old_resolution or {}).get("name"),
                        (new_resolution or {}).get("id"),
                        (new_resolution or {}).get("name"),
                    )
                )
            payload = self._callback(
                "jira:issue_updated",
                issue,
                actor,
                issue_event_type_name="issue_generic",
                changelog={"id": str(10000 + len(issue["transitions"])), "items": items},
            )
        return self._emit("jira:issue_updated", payload)

    def _item(self, field, from_id, from_string, to_id, to_string) -> dict:
        item = {
            "field": field,
            "fieldtype": "jira",
            "from": from_id,
            "fromString": from_string,
            "to": to_id,
            "toString": to_string,
        }
        if self.deployment == "cloud":
            item["fieldId"] = field
        return item

    def comment_as(self, key: str, body: str, *, actor: str | None = None) -> list[Delivery]:
        """Someone comments on `key` at Jira: a `comment_created` callback."""
        with self.lock:
            issue = self._issue(key)
            cid = str(10000 + sum(len(i["comments"]) for i in self.state["issues"].values()))
            issue["comments"].append({"id": cid, "body": body})
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
            comment = {
                "self": f"{self.url}/rest/api/2/issue/{issue['id']}/comment/{cid}",
                "id": cid,
                "author": self.webhook_user(actor),
                "body": body,
                "updateAuthor": self.webhook_user(actor),
                "created": stamp,
                "updated": stamp,
            }
            payload = self._callback("comment_created", issue, actor, comment=comment)
            payload.pop("user")  # comment events name the author in the comment
        return self._emit("comment_created", payload)

    def delete_issue(self, key: str, *, actor: str | None = None) -> list[Delivery]:
        """Someone deletes `key` at Jira: a `jira:issue_deleted` callback."""
        with self.lock:
            issue = self.state["issues"].pop(self._issue(key)["key"])
            payload = self._callback(
                "jira:issue_deleted", issue, actor, issue_event_type_name="issue_deleted"
            )
        return self._emit("jira:issue_deleted", payload)

    # Registering by API (admin): POST /rest/webhooks/1.0/webhook
    # (https://developer.atlassian.com/cloud/jira/platform/webhooks/#registering-a-webhook-using-the-jira-rest-api--other-integrations-).
    routes = routes + (("POST", r"/rest/webhooks/1\.0/webhook", "create_webhook"),)

    def create_webhook(self, req):
        body = req.json or {}
        if not body.get("url") or not body.get("name"):
            return self.error_response(400, "Webhook name and URL are required.")
        self.subscribe_webhook(
            body["url"], secret=body.get("secret", ""), events=body.get("events") or []
        )
        with self.lock:
            hook_id = len(self.subscriptions)
        return json_response(
            201,
            {
                "self": f"{self.url}/rest/webhooks/1.0/webhook/{hook_id}",
                "name": body["name"],
                "url": body["url"],
                "events": body.get("events") or [],
                "filters": body.get("filters") or {},
                "excludeBody": bool(body.get("excludeBody", False)),
                "enabled": True,
            },
        )
