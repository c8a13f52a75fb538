"""Fake GitHub REST API (GHES-style base URL): repository, issues (labels, state/state_reason,
list filtered by labels with absolute Link pagination, pull requests mixed in like the real
endpoint), comments, check runs (≤50 annotations per request, appended on update, listed per
commit). Bearer auth; 401 "Bad credentials"; primary 403/429 with x-ratelimit-* and secondary
403 with Retry-After."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
import zlib
from datetime import UTC, datetime
from urllib.parse import urlencode

from tests.fakes.base import FakeServer, RecordedRequest, Response, json_response
from tests.fakes.webhooks import Delivery, WebhookSender

DOCS = "https://docs.github.com/rest"


class FakeGitHub(WebhookSender, FakeServer):
    name = "github"
    routes = (
        ("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)", "get_repo"),
        ("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues", "list_issues"),
        ("POST", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues", "create_issue"),
        ("PATCH", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues/(?P<number>\d+)", "edit_issue"),
        (
            "POST",
            r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues/(?P<number>\d+)/comments",
            "add_comment",
        ),
        ("POST", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/check-runs", "create_check_run"),
        (
            "GET",
            r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/check-runs/(?P<run_id>\d+)",
            "get_check_run",
        ),
        (
            "PATCH",
            r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/check-runs/(?P<run_id>\d+)",
            "update_check_run",
        ),
        (
            "GET",
            r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/commits/(?P<sha>[0-9a-fA-F]+)/check-runs",
            "list_check_runs",
        ),
    )

    def __init__(self, *, token: str = "ghs_fixops", repository: str = "acme/app") -> None:
        self.token, self.repository = token, repository
        super().__init__()

    def reset_state(self) -> None:
        self.state = {"issues": {}, "check_runs": {}, "next_id": 1000}

    def config(self, **settings) -> dict:
        return {
            "kind": "github",
            "base_url": self.url,
            "credentials": {"token": self.token},
            "settings": {"repository": self.repository, **settings},
        }

    def check_auth(self, req: RecordedRequest) -> Response | None:
        if req.header("Authorization") in (f"Bearer {self.token}", f"token {self.token}"):
            return None
        return Response(
            401, {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}
        )

    def error_response(self, status, message, headers=None):
        headers = dict(headers or {})
        if status == 403 and "Retry-After" in headers:
            message = (
                "You have exceeded a secondary rate limit. Please wait a few minutes "
                "before you try again."
            )
        elif status in (403, 429) and headers.get("x-ratelimit-remaining") == "0":
            message = "API rate limit exceeded for installation ID 1."
        return Response(
            status, {"message": message, "documentation_url": DOCS, "status": str(status)}, headers
        )

    def rate_limit_headers(self, retry_after):
        headers = {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-used": "5000",
            "x-ratelimit-reset": str(int(time.time()) + 60),
            "x-ratelimit-resource": "core",
        }
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        return headers

    def with_reference(self, reference: str) -> list[dict]:
        with self.lock:
            issues = [
                i
                for i in self.state["issues"].values()
                if "pull_request" not in i and reference in [lb["name"] for lb in i["labels"]]
            ]
            runs = [r for r in self.state["check_runs"].values() if r["external_id"] == reference]
            return issues + runs

    def add_pull_request(self, labels: list[str]) -> dict:
        """A pull request carrying labels (the issues endpoint lists pull requests too)."""
        with self.lock:
            issue = self._new_issue({"title": "A pull request", "labels": labels})
            issue["pull_request"] = {
                "url": f"{self.url}/repos/{self.repository}/pulls/{issue['number']}"
            }
            return issue

    # -- helpers ---------------------------------------------------------------------------------

    def _repo_ok(self, owner, repo) -> bool:
        return f"{owner}/{repo}".lower() == self.repository.lower()

    def _not_found(self):
        return Response(404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"})

    def _invalid(self, resource, field, code="missing_field"):
        return Response(
            422,
            {
                "message": "Validation Failed",
                "errors": [{"resource": resource, "code": code, "field": field}],
                "documentation_url": DOCS,
                "status": "422",
            },
        )

    def _next_id(self) -> int:
        self.state["next_id"] += 1
        return self.state["next_id"]

    def _new_issue(self, body) -> dict:
        number = len(self.state["issues"]) + 1
        issue = {
            "id": self._next_id(),
            "node_id": f"I_kw{number}",
            "number": number,
            "title": body["title"],
            "body": body.get("body"),
            "state": "open",
            "state_reason": None,
            "labels": [{"name": n} for n in body.get("labels") or []],
            "html_url": f"{self.url}/{self.repository}/issues/{number}",
            "url": f"{self.url}/repos/{self.repository}/issues/{number}",
            "comments": 0,
            "_comments": [],
        }
        self.state["issues"][number] = issue
        return issue

    @staticmethod
    def _public(obj):
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    # -- routes ----------------------------------------------------------------------------------

    def get_repo(self, req, owner, repo):
        if not self._repo_ok(owner, repo):
            return self._not_found()
        return json_response(
            200,
            {
                "id": 1,
                "full_name": self.repository,
                "private": True,
                "permissions": {"admin": False, "push": True, "pull": True},
            },
        )

    def create_issue(self, req, owner, repo):
        if not self._repo_ok(owner, repo):
            return self._not_found()
        body = req.json or {}
        if not body.get("title"):
            return self._invalid("Issue", "title")
        with self.lock:
            return json_response(201, self._public(self._new_issue(body)))

    def list_issues(self, req, owner, repo):
        if not self._repo_ok(owner, repo):
            return self._not_found()
        with self.lock:
            wanted = [x for x in (req.arg("labels") or "").split(",") if x]
            issues = [
                i
                for i in self.state["issues"].values()
                if all(w in [lb["name"] for lb in i["labels"]] for w in wanted)
            ]
            state = req.arg("state", "open")
            if state != "all":
                issues = [i for i in issues if i["state"] == state]
            issues.sort(key=lambda i: i["number"], reverse=req.arg("direction", "desc") == "desc")
            page, per_page = int(req.arg("page", "1")), min(int(req.arg("per_page", "30")), 100)
            chunk = issues[(page - 1) * per_page : page * per_page]
            headers = {}
            params = {k: v[-1] for k, v in req.query.items()}
            if page * per_page < len(issues):
                last = -(-len(issues) // per_page)
                headers["Link"] = (
                    f"<{self.url}{req.path}?{urlencode({**params, 'page': page + 1})}>; "
                    'rel="next", '
                    f'<{self.url}{req.path}?{urlencode({**params, "page": last})}>; rel="last"'
                )
            return json_response(200, [self._public(i) for i in chunk], **headers)

    def edit_issue(self, req, owner, repo, number):
        body = req.json or {}
        with self.lock:
            issue = self.state["issues"].get(int(number)) if self._repo_ok(owner, repo) else None
            if issue is None:
                return self._not_found()
            if "title" in body and not body["title"]:
                return self._invalid("Issue", "title")
            if body.get("state") not in (None, "open", "closed"):
                return self._invalid("Issue", "state", "invalid")
            for field in ("title", "body"):
                if field in body:
                    issue[field] = body[field]
            if "labels" in body:
                issue["labels"] = [{"name": n} for n in body["labels"]]
            if body.get("state") and body["state"] != issue["state"]:
                issue["state"] = body["state"]
                issue["state_reason"] = body.get("state_reason")
            return json_response(200, self._public(issue))

    def add_comment(self, req, owner, repo, number):
        body = req.json or {}
        with self.lock:
            issue = self.state["issues"].get(int(number)) if self._repo_ok(owner, repo) else None
            if issue is None:
                return self._not_found()
            if not body.get("body"):
                return self._invalid("IssueComment", "body")
            issue["_comments"].append(body["body"])
            issue["comments"] += 1
            return json_response(201, {"id": self._next_id(), "body": body["body"]})

    def _check_output(self, run, output) -> Response | None:
        annotations = (output or {}).get("annotations") or []
        if len(annotations) > 50:
            return Response(
                422,
                {
                    "message": "Invalid request.\n\nOnly 50 annotations may be sent at a time.",
                    "documentation_url": DOCS,
                    "status": "422",
                },
            )
        if output:
            if not output.get("title") or not output.get("summary"):
                return self._invalid("CheckRun", "output")
            run["output"]["title"], run["output"]["summary"] = output["title"], output["summary"]
            run["_annotations"].extend(annotations)
            run["output"]["annotations_count"] = len(run["_annotations"])
        return None

    def create_check_run(self, req, owner, repo):
        if not self._repo_ok(owner, repo):
            return self._not_found()
        body = req.json or {}
        for field in ("name", "head_sha"):
            if not body.get(field):
                return self._invalid("CheckRun", field)
        if body.get("status") == "completed" and not body.get("conclusion"):
            return self._invalid("CheckRun", "conclusion")
        with self.lock:
            run_id = self._next_id()
            run = {
                "id": run_id,
                "name": body["name"],
                "head_sha": body["head_sha"],
                "external_id": body.get("external_id", ""),
                "status": body.get("status", "queued"),
                "conclusion": body.get("conclusion"),
                "details_url": body.get("details_url"),
                "html_url": f"{self.url}/{self.repository}/runs/{run_id}",
                "output": {"title": None, "summary": None, "annotations_count": 0},
                "_annotations": [],
            }
            if (bad := self._check_output(run, body.get("output"))) is not None:
                return bad
            self.state["check_runs"][run_id] = run
            return json_response(201, self._public(run))

    def get_check_run(self, req, owner, repo, run_id):
        with self.lock:
            run = self.state["check_runs"].get(int(run_id)) if self._repo_ok(owner, repo) else None
            if run is None:
                return self._not_found()
            return json_response(200, self._public(run))

    def update_check_run(self, req, owner, repo, run_id):
        body = req.json or {}
        with self.lock:
            run = self.state["check_runs"].get(int(run_id)) if self._repo_ok(owner, repo) else None
            if run is None:
                return self._not_found()
            if (bad := self._check_output(run, body.get("output"))) is not None:
                return bad
            for field in ("status", "conclusion", "details_url"):
                if field in body:
                    run[field] = body[field]
            return json_response(200, self._public(run))

    def list_check_runs(self, req, owner, repo, sha):
        if not self._repo_ok(owner, repo):
            return self._not_found()
        with self.lock:
            runs = [
                r
                for r in self.state["check_runs"].values()
                if r["head_sha"] == sha
                and (not req.arg("check_name") or r["name"] == req.arg("check_name"))
            ]
            return json_response(
                200, {"total_count": len(runs), "check_runs": [self._public(r) for r in runs]}
            )

    # -- webhooks: the sending side --------------------------------------------------------------
    # A repository webhook, as POST /repos/{owner}/{repo}/hooks registers it
    # ({"name": "web", "config": {"url", "content_type": "json", "secret"}, "events": [...]}).
    # Headers and signature per https://docs.github.com/en/webhooks/webhook-events-and-payloads#delivery-headers
    # and https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    # (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`, legacy SHA-1 beside it);
    # payloads per .../webhook-events-and-payloads#issues and #issue_comment.

    hook_id = 424242

    def sign(self, body, sub, *, event, at=None, delivery_id=None, **_):
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/7d3b2f1",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
            "X-GitHub-Hook-ID": str(self.hook_id),
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-GitHub-Hook-Installation-Target-ID": "1",
        }
        if sub.secret:
            key = sub.secret.encode()
            headers["X-Hub-Signature"] = "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest()
            headers["X-Hub-Signature-256"] = (
                "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
            )
        return headers

    def _user(self, login: str) -> dict:
        return {
            "login": login,
            "id": zlib.crc32(login.encode()),
            "type": "User",
            "html_url": f"{self.url}/{login}",
        }

    def _hook_payload(self, action: str, issue: dict, actor: str, **extra) -> dict:
        owner = self.repository.split("/")[0]
        body = {
            "action": action,
            "issue": self._public(issue),
            "repository": {
                "id": 1,
                "name": self.repository.split("/")[1],
                "full_name": self.repository,
                "private": True,
                "owner": self._user(owner),
            },
            "sender": self._user(actor),
        }
        body.update(extra)
        return body

    @staticmethod
    def _stamp() -> str:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def transition_issue(
        self, number: int, status: str, *, resolution: str | None = None, actor: str = "octocat"
    ) -> list[Delivery]:
        """Someone closes (status "closed", resolution = state_reason: completed / not_planned /
        duplicate) or reopens ("open") issue `number`: an `issues` closed/reopened event."""
        with self.lock:
            issue = self.state["issues"][int(number)]
            issue["state"] = status
            issue["updated_at"] = self._stamp()
            if status == "closed":
                issue["state_reason"] = resolution or "completed"
                issue["closed_at"] = issue["updated_at"]
                action = "closed"
            else:
                issue["state_reason"] = "reopened"
                issue["closed_at"] = None
                action = "reopened"
            payload = self._hook_payload(action, issue, actor)
        return self._emit("issues", payload)

    def comment_as(self, number: int, body: str, *, actor: str = "octocat") -> list[Delivery]:
        """Someone comments on issue `number`: an `issue_comment` created event."""
        with self.lock:
            issue = self.state["issues"][int(number)]
            issue["_comments"].append(body)
            issue["comments"] += 1
            cid = self._next_id()
            comment = {
                "id": cid,
                "node_id": f"IC_kw{cid}",
                "html_url": f"{issue['html_url']}#issuecomment-{cid}",
                "body": body,
                "user": self._user(actor),
                "created_at": self._stamp(),
                "updated_at": self._stamp(),
                "author_association": "MEMBER",
            }
            payload = self._hook_payload("created", issue, actor, comment=comment)
        return self._emit("issue_comment", payload)

    def delete_issue(self, number: int, *, actor: str = "octocat") -> list[Delivery]:
        """Someone deletes issue `number`: an `issues` deleted event."""
        with self.lock:
            issue = self.state["issues"].pop(int(number))
            payload = self._hook_payload("deleted", issue, actor)
        return self._emit("issues", payload)

    def ping(self) -> list[Delivery]:
        """The `ping` event GitHub sends when a webhook is created (whatever its events)."""
        payload = {"zen": "Keep it logically awesome.", "hook_id": self.hook_id}
        self._hooks_init()
        sent = []
        for sub in [s for s in self.subscriptions if s.active]:
            body = self.encode_payload(payload, sub)
            headers = self.sign(body, sub, event="ping")
            sent.append(self.send_raw(sub.target, body=body, headers=headers, event="ping"))
        return sent

    # Registering by API: POST /repos/{owner}/{repo}/hooks
    # (https://docs.github.com/en/rest/repos/webhooks#create-a-repository-webhook); GitHub
    # answers 201 and sends a `ping` to the new hook.
    routes = routes + (
        ("POST", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/hooks", "create_hook"),
        ("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/hooks", "list_hooks"),
    )

    def _hook_public(self, hook_id: int, sub) -> dict:
        return {
            "type": "Repository",
            "id": hook_id,
            "name": "web",
            "active": sub.active,
            "events": list(sub.events),
            "config": {
                "url": sub.target,
                "content_type": sub.options.get("content_type", "json"),
                "insecure_ssl": "0",
                **({"secret": "********"} if sub.secret else {}),
            },
            "url": f"{self.url}/repos/{self.repository}/hooks/{hook_id}",
        }

    def create_hook(self, req, owner, repo):
        if not self._repo_ok(owner, repo):
            return self._not_found()
        body = req.json or {}
        config = body.get("config") or {}
        if not isinstance(config, dict) or not config.get("url"):
            return self._invalid("Hook", "url")
        if config.get("content_type", "form") != "json":
            return self._invalid("Hook", "content_type", "invalid")  # FixOps reads JSON only
        sub = self.subscribe_webhook(
            config["url"],
            secret=config.get("secret", ""),
            events=body.get("events") or ["push"],
            content_type="json",
        )
        sub.active = body.get("active", True)
        hook_id = self._next_id()
        self.ping()
        return json_response(201, self._hook_public(hook_id, sub))

    def list_hooks(self, req, owner, repo):
        if not self._repo_ok(owner, repo):
            return self._not_found()
        return json_response(
            200, [self._hook_public(i, sub) for i, sub in enumerate(self.subscriptions, 1)]
        )
