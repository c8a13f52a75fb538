"""Fake GitLab REST v4: /user, /projects/:id (numeric or URL-encoded path), issues
create/list/edit (state_event close/reopen, comma-separated labels, all-labels filter),
notes; PRIVATE-TOKEN or Bearer auth; page/per_page pagination with X-Total, X-Next-Page and
Link on the fake's own host; 429 with RateLimit-* and Retry-After."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import unquote, urlencode

from tests.fakes.base import FakeServer, RecordedRequest, Response, json_response
from tests.fakes.webhooks import Delivery, WebhookSender


class FakeGitLab(WebhookSender, FakeServer):
    name = "gitlab"
    routes = (
        ("GET", r"/api/v4/user", "user"),
        ("GET", r"/api/v4/projects/(?P<pid>[^/]+)", "project"),
        ("GET", r"/api/v4/projects/(?P<pid>[^/]+)/issues", "list_issues"),
        ("POST", r"/api/v4/projects/(?P<pid>[^/]+)/issues", "create_issue"),
        ("GET", r"/api/v4/projects/(?P<pid>[^/]+)/issues/(?P<iid>\d+)", "get_issue"),
        ("PUT", r"/api/v4/projects/(?P<pid>[^/]+)/issues/(?P<iid>\d+)", "edit_issue"),
        ("POST", r"/api/v4/projects/(?P<pid>[^/]+)/issues/(?P<iid>\d+)/notes", "add_note"),
    )

    def __init__(
        self,
        *,
        token: str = "glpat-fixops",
        project_id: int = 42,
        path: str = "acme/app",
        version: str = "17.4",
    ) -> None:
        self.token, self.project_id, self.project_path = token, project_id, path
        # Webhook shapes by version: "17.4" (Idempotency-Key, ISO times) or "13.12" (no
        # Idempotency-Key, "2013-12-03 17:15:43 UTC" times). See the sending side below.
        self.version = version
        super().__init__()

    def reset_state(self) -> None:
        self.state = {"issues": {}, "next_id": 9000}

    def config(self, **settings) -> dict:
        return {
            "kind": "gitlab",
            "base_url": self.url,
            "credentials": {"token": self.token},
            "settings": {"project": self.project_path, **settings},
        }

    def check_auth(self, req: RecordedRequest) -> Response | None:
        token = req.header("PRIVATE-TOKEN") or req.header("Authorization").removeprefix("Bearer ")
        if token == self.token:
            return None
        return Response(401, {"message": "401 Unauthorized"})

    def error_response(self, status, message, headers=None):
        return Response(
            status,
            {"message": message} if status != 404 else {"message": "404 Not found"},
            headers or {},
        )

    def rate_limit_headers(self, retry_after):
        reset = int(time.time()) + 60
        headers = {
            "RateLimit-Limit": "600",
            "RateLimit-Observed": "601",
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(reset),
            "RateLimit-ResetTime": format_datetime(datetime.fromtimestamp(reset, UTC), usegmt=True),
        }
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        return headers

    def with_reference(self, reference: str) -> list[dict]:
        with self.lock:
            return [i for i in self.state["issues"].values() if reference in i["labels"]]

    def _project_ok(self, pid: str) -> bool:
        return unquote(pid) in (str(self.project_id), self.project_path)

    def _not_found(self, what="Project"):
        return Response(404, {"message": f"404 {what} Not Found"})

    def user(self, req):
        return json_response(
            200, {"id": 7, "username": "fixops-bot", "name": "FixOps Bot", "state": "active"}
        )

    def project(self, req, pid):
        if not self._project_ok(pid):
            return self._not_found()
        return json_response(
            200,
            {
                "id": self.project_id,
                "path_with_namespace": self.project_path,
                "web_url": f"{self.url}/{self.project_path}",
            },
        )

    def _labels(self, value) -> list[str]:
        if isinstance(value, list):
            return [v.strip() for v in value if v.strip()]
        return [v.strip() for v in str(value or "").split(",") if v.strip()]

    def create_issue(self, req, pid):
        if not self._project_ok(pid):
            return self._not_found()
        body = req.json or req.form
        if not body.get("title"):
            return Response(400, {"error": "title is missing"})
        with self.lock:
            self.state["next_id"] += 1
            iid = len(self.state["issues"]) + 1
            issue = {
                "id": self.state["next_id"],
                "iid": iid,
                "project_id": self.project_id,
                "title": body["title"],
                "description": body.get("description"),
                "state": "opened",
                "labels": self._labels(body.get("labels")),
                "created_at": datetime.now(UTC).isoformat(),
                "closed_at": None,
                "web_url": f"{self.url}/{self.project_path}/-/issues/{iid}",
                "notes": [],
                "events": [],
            }
            self.state["issues"][iid] = issue
            return json_response(201, self._public(issue))

    @staticmethod
    def _public(issue):
        return {k: v for k, v in issue.items() if k not in ("notes", "events")}

    def list_issues(self, req, pid):
        if not self._project_ok(pid):
            return self._not_found()
        with self.lock:
            issues = sorted(
                self.state["issues"].values(),
                key=lambda i: i["id"],
                reverse=req.arg("sort", "desc") == "desc",
            )
            wanted = self._labels(req.arg("labels"))
            issues = [i for i in issues if all(w in i["labels"] for w in wanted)]
            state = req.arg("state", "all")
            if state in ("opened", "closed"):
                issues = [i for i in issues if i["state"] == state]
            page = int(req.arg("page", "1"))
            per_page = min(int(req.arg("per_page", "20")), 100)
            chunk = issues[(page - 1) * per_page : page * per_page]
            pages = max(1, -(-len(issues) // per_page))
            headers = {
                "X-Total": str(len(issues)),
                "X-Total-Pages": str(pages),
                "X-Page": str(page),
                "X-Per-Page": str(per_page),
                "X-Next-Page": str(page + 1) if page < pages else "",
                "X-Prev-Page": str(page - 1) if page > 1 else "",
            }
            params = {k: v[-1] for k, v in req.query.items()}
            links = []
            if page < pages:
                links.append(
                    f'<{self.url}{req.path}?{urlencode({**params, "page": page + 1})}>; rel="next"'
                )
            links.append(f'<{self.url}{req.path}?{urlencode({**params, "page": 1})}>; rel="first"')
            headers["Link"] = ", ".join(links)
            return json_response(200, [self._public(i) for i in chunk], **headers)

    def get_issue(self, req, pid, iid):
        with self.lock:
            issue = self.state["issues"].get(int(iid)) if self._project_ok(pid) else None
            if issue is None:
                return self._not_found("Issue")
            return json_response(200, self._public(issue))

    def edit_issue(self, req, pid, iid):
        body = req.json or req.form
        with self.lock:
            issue = self.state["issues"].get(int(iid)) if self._project_ok(pid) else None
            if issue is None:
                return self._not_found("Issue")
            event = body.get("state_event")
            if event not in (None, "close", "reopen"):
                return Response(400, {"error": "state_event does not have a valid value"})
            if "title" in body:
                if not body["title"]:
                    return Response(400, {"message": {"title": ["can't be blank"]}})
                issue["title"] = body["title"]
            if "description" in body:
                issue["description"] = body["description"]
            if "labels" in body:
                issue["labels"] = self._labels(body["labels"])
            if event == "close" and issue["state"] != "closed":
                issue["state"], issue["closed_at"] = "closed", datetime.now(UTC).isoformat()
                issue["events"].append("close")
            elif event == "reopen" and issue["state"] != "opened":
                issue["state"], issue["closed_at"] = "opened", None
                issue["events"].append("reopen")
            return json_response(200, self._public(issue))

    def add_note(self, req, pid, iid):
        body = req.json or req.form
        with self.lock:
            issue = self.state["issues"].get(int(iid)) if self._project_ok(pid) else None
            if issue is None:
                return self._not_found("Issue")
            if not body.get("body"):
                return Response(400, {"error": "body is missing"})
            note = {"id": 500 + len(issue["notes"]), "body": body["body"], "system": False}
            issue["notes"].append(note)
            return json_response(201, note)

    # -- webhooks: the sending side --------------------------------------------------------------
    # A project webhook, as POST /projects/:id/hooks registers it ({"url", "token",
    # "issues_events", "note_events", "signing_token"}): subscribe_webhook(target,
    # secret=<token>, events=["Issue Hook", "Note Hook"], signing_token="whsec_...").
    # Headers per https://docs.gitlab.com/user/project/integrations/webhooks/#delivery-headers
    # (X-Gitlab-Event, X-Gitlab-Token, X-Gitlab-Event-UUID, X-Gitlab-Webhook-UUID,
    # X-Gitlab-Instance, Idempotency-Key from 17.4); the signing token signs per Standard
    # Webhooks (https://gitlab.com/gitlab-org/gitlab/-/merge_requests/230944). Payloads per
    # https://docs.gitlab.com/user/project/integrations/webhook_events/#work-item-events and
    # #comment-events; GitLab 13.x wrote times as "2013-12-03 17:15:43 UTC".

    webhook_uuid = "7d9b1c5e-0b55-4c1f-a2f6-5ad7c3e6e0a1"

    @property
    def modern(self) -> bool:
        return tuple(int(p) for p in self.version.split(".")[:2]) >= (17, 4)

    def sign(self, body, sub, *, event, at=None, delivery_id=None, **_):
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"GitLab/{self.version}.0",
            "X-Gitlab-Event": event,
            "X-Gitlab-Instance": self.url,
            "X-Gitlab-Event-UUID": str(uuid.uuid4()),
            "X-Gitlab-Webhook-UUID": self.webhook_uuid,
        }
        if sub.secret:
            headers["X-Gitlab-Token"] = sub.secret
        key = delivery_id or str(uuid.uuid4())
        if self.modern:
            headers["Idempotency-Key"] = key
        signing = sub.options.get("signing_token")
        if signing:
            stamp = str(int((at or datetime.now(UTC)).timestamp()))
            secret = base64.b64decode(signing.removeprefix("whsec_"))
            digest = hmac.new(secret, f"{key}.{stamp}.".encode() + body, hashlib.sha256)
            headers["webhook-id"] = key
            headers["webhook-timestamp"] = stamp
            headers["webhook-signature"] = "v1," + base64.b64encode(digest.digest()).decode()
        return headers

    def _time(self, when: datetime | None = None) -> str:
        when = when or datetime.now(UTC)
        if self.modern:
            return when.strftime("%Y-%m-%dT%H:%M:%SZ")
        return when.strftime("%Y-%m-%d %H:%M:%S UTC")

    def _hook_user(self, username: str) -> dict:
        return {
            "id": 7,
            "name": username.title(),
            "username": username,
            "avatar_url": None,
            "email": "[REDACTED]",
        }

    def _hook_project(self) -> dict:
        return {
            "id": self.project_id,
            "name": self.project_path.rsplit("/", 1)[-1],
            "path_with_namespace": self.project_path,
            "web_url": f"{self.url}/{self.project_path}",
        }

    def _issue_attributes(self, issue: dict, action: str) -> dict:
        attrs = {
            "id": issue["id"],
            "iid": issue["iid"],
            "project_id": self.project_id,
            "title": issue["title"],
            "description": issue["description"],
            "state": issue["state"],
            "state_id": 2 if issue["state"] == "closed" else 1,
            "action": action,
            "url": issue["web_url"],
            "created_at": self._time(),
            "updated_at": self._time(),
            "closed_at": self._time() if issue["state"] == "closed" else None,
            "labels": [{"title": label} for label in issue["labels"]],
        }
        if self.modern:
            attrs["type"] = "Issue"
        return attrs

    def transition_issue(
        self, iid: int, status: str, *, resolution: str | None = None, actor: str = "root"
    ) -> list[Delivery]:
        """Someone closes ("closed") or reopens ("opened") issue `iid`. Like GitLab, a close
        sends an `update` delivery then a `close` one (a reopen: update then reopen)."""
        with self.lock:
            issue = self.state["issues"][int(iid)]
            before = issue["state"]
            issue["state"] = status
            issue["closed_at"] = datetime.now(UTC).isoformat() if status == "closed" else None
            issue["events"].append(f"remote:{status}")
            changes = {
                "state_id": {
                    "previous": 2 if before == "closed" else 1,
                    "current": 2 if status == "closed" else 1,
                },
                "updated_at": {"previous": self._time(), "current": self._time()},
            }
            payloads = []
            for action in ("update", "close" if status == "closed" else "reopen"):
                payload = {
                    "object_kind": "issue",
                    "user": self._hook_user(actor),
                    "project": self._hook_project(),
                    "object_attributes": self._issue_attributes(issue, action),
                    "labels": [{"title": label} for label in issue["labels"]],
                    "changes": changes,
                }
                if self.modern:
                    payload["event_type"] = "issue"
                payloads.append(payload)
        return [d for p in payloads for d in self._emit("Issue Hook", p)]

    def comment_as(self, iid: int, body: str, *, actor: str = "root") -> list[Delivery]:
        """Someone comments on issue `iid`: a `Note Hook` delivery."""
        with self.lock:
            issue = self.state["issues"][int(iid)]
            note = {"id": 500 + len(issue["notes"]), "body": body, "system": False}
            issue["notes"].append(note)
            payload = {
                "object_kind": "note",
                "event_type": "note",
                "user": self._hook_user(actor),
                "project_id": self.project_id,
                "project": self._hook_project(),
                "object_attributes": {
                    "id": note["id"],
                    "note": body,
                    "noteable_type": "Issue",
                    "author_id": 7,
                    "created_at": self._time(),
                    "updated_at": self._time(),
                    "project_id": self.project_id,
                    "system": False,
                    "noteable_id": issue["id"],
                    "url": f"{issue['web_url']}#note_{note['id']}",
                },
                "issue": self._public(issue) | {"state": issue["state"]},
            }
        return self._emit("Note Hook", payload)

    def delete_issue(self, iid: int) -> list[Delivery]:
        """Someone deletes issue `iid`: GitLab sends no webhook for it."""
        with self.lock:
            self.state["issues"].pop(int(iid))
        return []

    # Registering by API: POST /projects/:id/hooks
    # (https://docs.gitlab.com/api/project_webhooks/#add-a-webhook-to-a-project); the signing
    # token must be `whsec_` + base64 of 32 bytes and is never returned.
    routes = routes + (("POST", r"/api/v4/projects/(?P<pid>[^/]+)/hooks", "create_hook"),)

    def create_hook(self, req, pid):
        if not self._project_ok(pid):
            return self._not_found()
        body = req.json or req.form
        if not body.get("url"):
            return Response(400, {"error": "url is missing"})
        signing = body.get("signing_token") or ""
        if signing:
            try:
                key = base64.b64decode(signing.removeprefix("whsec_"), validate=True)
            except ValueError:
                key = b""
            if not signing.startswith("whsec_") or len(key) != 32:
                return Response(400, {"message": {"signing_token": ["is invalid"]}})
        events = [
            name
            for flag, name in (("issues_events", "Issue Hook"), ("note_events", "Note Hook"))
            if body.get(flag)
        ]
        options = {"signing_token": signing} if signing and self.modern else {}
        self.subscribe_webhook(body["url"], secret=body.get("token", ""), events=events, **options)
        with self.lock:
            self.state["next_id"] += 1
            hook_id = self.state["next_id"]
        return json_response(
            201,
            {
                "id": hook_id,
                "url": body["url"],
                "project_id": self.project_id,
                "issues_events": bool(body.get("issues_events")),
                "note_events": bool(body.get("note_events")),
                "push_events": bool(body.get("push_events", True)),
                "enable_ssl_verification": bool(body.get("enable_ssl_verification", True)),
                "token_present": bool(body.get("token")),
                "signing_token_present": bool(signing),
                "created_at": self._time(),
            },
        )
