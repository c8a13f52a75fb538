"""GitHub issues and check runs (REST, Bearer token, API version 2022-11-28).

settings: repository ("owner/name", required), labels (extra labels), check_name ("FixOps").
A Ticket whose extra carries "head_sha" is a check run on that commit (decisions): extra
"conclusion" and "annotations" ([{path, start_line, end_line, annotation_level, message,
title}]); annotations go 50 per request, the rest through check run updates (GitHub appends
them). Check runs need a GitHub App installation token (checks:write); issues work with a PAT.
"""

from __future__ import annotations

import re
from typing import ClassVar
from urllib.parse import quote

from apps.connectors.base import Connector, RemoteRef, Ticket, check_status
from apps.connectors.github import mapping
from apps.connectors.inbound.changes import ChangeKind, RemoteChange
from apps.connectors.reconcile_reads import Pacer
from apps.connectors.schema import ConfigField, secret
from fixops.platform.http.errors import PermanentError
from fixops.platform.http.responses import json_body
from fixops.platform.http.session import build_session

_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")
MAX_PAGES = 10


class GitHubConnector(Connector):
    kind: ClassVar[str] = "github"
    credential_sets = (("token",),)
    base_url_help = "https://api.github.com, or https://<host>/api/v3 for GitHub Enterprise."
    fields = (
        secret(
            "token",
            "Token",
            "Issues: a PAT with issues read/write. Check runs: a GitHub App installation token.",
        ),
        ConfigField(
            "repository", "Repository", required=True, help='"owner/name", e.g. acme/payments.'
        ),
        ConfigField("labels", "Labels", type="list", help="Extra labels on every issue."),
        ConfigField("check_name", "Check name", default="FixOps", help="Name of the check run."),
    )

    @classmethod
    def validate(cls, credentials: dict, settings: dict) -> dict[str, str]:
        errors = super().validate(credentials, settings)
        if (
            isinstance(settings, dict)
            and settings.get("repository")
            and not _REPOSITORY.match(str(settings["repository"]))
        ):
            errors["settings.repository"] = 'must look like "owner/name"'
        if isinstance(settings, dict) and not isinstance(settings.get("labels", []), list):
            errors["settings.labels"] = "must be a list of label names"
        return errors

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.repo = f"{self.base_url}/repos/{self.settings['repository']}"
        self.check_name = self.settings.get("check_name") or "FixOps"
        self.session = build_session(
            label="github",
            timeout=self.timeout,
            headers={
                "Authorization": f"Bearer {self.credentials['token']}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
        )

    def test_connection(self) -> str:
        repo = json_body(self.session.get(self.repo), label="github")
        permissions = repo.get("permissions") or {}
        granted = ", ".join(k for k, v in sorted(permissions.items()) if v) or "unknown"
        return (
            f"authenticated; repository {repo.get('full_name')} reachable (permissions: {granted})"
        )

    # -- issues and check runs ------------------------------------------------------------------

    def create(self, ticket: Ticket) -> RemoteRef:
        if mapping.is_check_run(ticket):
            return self._create_check_run(ticket)
        issue = json_body(
            self.session.post(
                f"{self.repo}/issues", json=mapping.issue_payload(ticket, self.settings)
            ),
            label="github",
        )
        if ticket.status == "closed":
            return self.transition(mapping.issue_ref(issue), "closed")
        return mapping.issue_ref(issue)

    def update(self, ref: RemoteRef, ticket: Ticket) -> RemoteRef:
        check_status(ticket.status)
        if mapping.is_check_run(ticket) or ref.extra.get("kind") == "check_run":
            return self._update_check_run(ref, ticket)
        payload = {
            **mapping.issue_payload(ticket, self.settings),
            **mapping.state_payload(ticket.status),
        }
        return self._patch_issue(ref, payload)

    def transition(self, ref: RemoteRef, status: str) -> RemoteRef:
        check_status(status)
        if ref.extra.get("kind") == "check_run":
            if status == "open":
                raise PermanentError(
                    "github: a completed check run cannot be reopened; create a new one"
                )
            run = json_body(
                self.session.get(f"{self.repo}/check-runs/{quote(ref.id)}"), label="github"
            )
            return mapping.check_ref(run)
        return self._patch_issue(ref, mapping.state_payload(status))

    def comment(self, ref: RemoteRef, body: str) -> None:
        if ref.extra.get("kind") == "check_run":
            raise PermanentError(
                "github: check runs take no comments; update the check run instead"
            )
        self.session.post(f"{self.repo}/issues/{quote(ref.id)}/comments", json={"body": body})

    def find_by_reference(self, reference: str) -> RemoteRef | None:
        """The oldest issue carrying the reference label (pull requests skipped). Check runs
        are looked up by create() itself, on the commit (they need the head SHA)."""
        url: str | None = f"{self.repo}/issues"
        params: dict | None = {
            "labels": reference,
            "state": "all",
            "sort": "created",
            "direction": "asc",
            "per_page": "50",
        }
        for _ in range(MAX_PAGES):
            if url is None:
                break
            response = self.session.get(url, params=params)
            for issue in json_body(response, label="github"):
                if "pull_request" not in issue:
                    return mapping.issue_ref(issue)
            url, params = response.links.get("next", {}).get("url"), None
        return None

    # -- reconciliation (reading tickets back) --------------------------------------------------

    def fetch_states(self, refs: list[RemoteRef]) -> dict[str, RemoteChange | None]:
        """State of our issues (check runs are skipped: nothing to reconcile). With a common
        label in settings.labels: `GET /repos/{repo}/issues?labels=…&state=all&per_page=100`,
        paged by the Link header; issues that list did not show, and every issue without a
        common label, one `GET /repos/{repo}/issues/{number}` each — 404 or 410 Gone means
        deleted (GitHub REST "Get an issue")."""
        pacer = Pacer("github")
        wanted = {
            r.id for r in refs if r.extra.get("kind") != "check_run" and (r.id or "").isdigit()
        }
        states: dict[str, RemoteChange | None] = {}
        common = [label for label in self.settings.get("labels") or [] if label]
        if common and wanted:
            url: str | None = f"{self.repo}/issues"
            params: dict | None = {"labels": common[0], "state": "all", "per_page": "100"}
            while url and len(states) < len(wanted):
                response = pacer(self.session.get, url, params=params)
                for issue in json_body(response, label="github"):
                    if str(issue.get("number")) in wanted and "pull_request" not in issue:
                        states[str(issue["number"])] = self._change(issue)
                url, params = response.links.get("next", {}).get("url"), None
        for number in sorted(wanted - set(states), key=int):
            try:
                issue = json_body(
                    pacer(self.session.get, f"{self.repo}/issues/{number}"), label="github"
                )
            except PermanentError as exc:
                if exc.status in (404, 410):
                    states[number] = None
                    continue
                raise
            states[number] = self._change(issue)
        return states

    @staticmethod
    def _change(issue: dict) -> RemoteChange:
        return RemoteChange(
            kind=ChangeKind.STATUS,
            remote_id=str(issue["number"]),
            remote_key=f"#{issue['number']}",
            status=issue.get("state", ""),
            resolution=issue.get("state_reason") or "",
        )

    # -- helpers --------------------------------------------------------------------------------

    def _patch_issue(self, ref: RemoteRef, payload: dict) -> RemoteRef:
        issue = json_body(
            self.session.patch(f"{self.repo}/issues/{quote(ref.id)}", json=payload), label="github"
        )
        return mapping.issue_ref(issue)

    def _check_inputs(self, ticket: Ticket) -> tuple[str, str, list[dict]]:
        sha = str(ticket.extra.get("head_sha") or "")
        if not _SHA.match(sha):
            raise PermanentError(f"github: head_sha {sha!r} is not a commit SHA")
        try:
            return sha, mapping.conclusion(ticket), mapping.annotations(ticket)
        except (ValueError, KeyError, TypeError) as exc:
            raise PermanentError(f"github: invalid check run data: {exc}") from exc

    def find_check_run(self, reference: str, head_sha: str) -> RemoteRef | None:
        """The check run of ours (external_id = reference) on that commit, if any."""
        data = json_body(
            self.session.get(
                f"{self.repo}/commits/{quote(head_sha)}/check-runs",
                params={"check_name": self.check_name, "filter": "all", "per_page": "100"},
            ),
            label="github",
        )
        for run in data.get("check_runs", []):
            if run.get("external_id") == reference:
                return mapping.check_ref(run)
        return None

    def _create_check_run(self, ticket: Ticket) -> RemoteRef:
        sha, conclusion, annotations = self._check_inputs(ticket)
        existing = self.find_check_run(ticket.reference, sha)
        if existing is not None:  # a create whose outcome was unknown: do not post twice
            return existing
        chunks = mapping.batches(annotations)
        payload = {
            "name": self.check_name,
            "head_sha": sha,
            "external_id": ticket.reference,
            "status": "completed",
            "conclusion": conclusion,
            "output": mapping.check_output(ticket, chunks[0]),
        }
        if ticket.url:
            payload["details_url"] = ticket.url
        run = json_body(self.session.post(f"{self.repo}/check-runs", json=payload), label="github")
        for chunk in chunks[1:]:
            run = json_body(
                self.session.patch(
                    f"{self.repo}/check-runs/{run['id']}",
                    json={"output": mapping.check_output(ticket, chunk)},
                ),
                label="github",
            )
        return mapping.check_ref(run)

    def _update_check_run(self, ref: RemoteRef, ticket: Ticket) -> RemoteRef:
        try:
            conclusion, annotations = mapping.conclusion(ticket), mapping.annotations(ticket)
        except (ValueError, KeyError, TypeError) as exc:
            raise PermanentError(f"github: invalid check run data: {exc}") from exc
        run: dict = {}
        for i, chunk in enumerate(mapping.batches(annotations)):
            payload: dict = {"output": mapping.check_output(ticket, chunk)}
            if i == 0:
                payload.update({"status": "completed", "conclusion": conclusion})
            run = json_body(
                self.session.patch(f"{self.repo}/check-runs/{quote(ref.id)}", json=payload),
                label="github",
            )
        return mapping.check_ref(run)
