#!/usr/bin/env python3
"""FixOps CI gate: upload scanner reports, ask for the decision, print why, exit with it.

Standard library only, so any CI image with Python 3.9+ can run it:

    python fixops_gate.py --application shop reports/semgrep.sarif reports/bom.json

Configuration comes from flags or the environment: FIXOPS_URL, FIXOPS_TOKEN (a token with
scans:write and decisions:write), and the commit/branch/run id of GitHub Actions, GitLab CI or
Jenkins when not given. --source-root (where the scanners saw the checkout, so FixOps can make
absolute paths in reports relative) defaults to the CI system's workspace directory.

Exit codes:
  0  ALLOW            (change the outcome codes with --exit-codes, e.g. NEEDS_REVIEW=0)
  1  BLOCK
  2  NEEDS_REVIEW
  3  no decision: FixOps could not be asked (bad token, unreachable, invalid report, still
     rate-limited after --max-retries), or a queued scan failed (its error code and message
     are printed) or was stuck (still queued or processing at --timeout).

A 429 answer (or a 503 with Retry-After) is retried after its Retry-After (seconds or an HTTP
date; 2, 4, 8... s without one), at most --max-retries times, never past --timeout and never
for a single wait over 300 s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib import error, request

DEFAULT_EXIT_CODES = {"ALLOW": 0, "BLOCK": 1, "NEEDS_REVIEW": 2}
FAILURE = 3
MAX_RETRY_WAIT = 300.0  # seconds: one Retry-After longer than this is not waited for
CI_VARIABLES = {
    "commit": ("GITHUB_SHA", "CI_COMMIT_SHA", "GIT_COMMIT"),
    "branch": ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME", "BRANCH_NAME"),
    "pipeline_run": ("GITHUB_RUN_ID", "CI_PIPELINE_ID", "BUILD_TAG"),
    # The checkout directory: GitHub Actions, GitLab CI, Bitbucket Pipelines, Azure Pipelines,
    # CircleCI, Travis CI, AWS CodeBuild, Drone, Woodpecker, Buildkite, Jenkins (WORKSPACE,
    # last: the most generic name).
    "source_root": (
        "GITHUB_WORKSPACE",
        "CI_PROJECT_DIR",
        "BITBUCKET_CLONE_DIR",
        "BUILD_SOURCESDIRECTORY",
        "CIRCLE_WORKING_DIRECTORY",
        "TRAVIS_BUILD_DIR",
        "CODEBUILD_SRC_DIR",
        "DRONE_WORKSPACE",
        "CI_WORKSPACE",
        "BUILDKITE_BUILD_CHECKOUT_PATH",
        "WORKSPACE",
    ),
}


class GateError(Exception):
    """FixOps could not be asked; the message says why."""


def _from_env(name: str) -> str:
    return next((os.environ[v] for v in CI_VARIABLES[name] if os.environ.get(v)), "")


def _source_root_from_env() -> str:
    """The first CI workspace variable that names an absolute directory (CircleCI's is often
    "~/project"; the user's home is expanded, anything still relative is skipped)."""
    for name in CI_VARIABLES["source_root"]:
        value = os.path.expanduser(os.environ.get(name, "").strip())
        if value.startswith("/") or (len(value) > 2 and value[1] == ":" and value[2] in "/\\"):
            return value
    return ""


def retry_after_seconds(value: str | None, attempt: int, now: float | None = None) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): the server's Retry-After
    (delta-seconds or an HTTP date), else exponential (2, 4, 8... s)."""
    fallback = float(min(2**attempt, 60))
    if not value:
        return fallback
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return fallback
    return max(0.0, when - (time.time() if now is None else now))


class Client:
    def __init__(
        self,
        url: str,
        token: str,
        timeout: float,
        *,
        max_retries: int = 5,
        deadline: float | None = None,
        sleep=time.sleep,
    ):
        if not url.startswith(("https://", "http://")):
            raise GateError(f"--url must be an http(s) URL, got {url!r}")
        self.base = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.max_retries = max_retries
        self.deadline = deadline  # time.monotonic() value; no retry wait goes past it
        self.sleep = sleep
        self.retries = 0  # retries done so far (all calls), for the summary

    def call(self, method: str, path: str, body: bytes | None = None, content_type: str = ""):
        # Links the server returns (status_url) are absolute paths on the same server.
        url = f"{self.base}{path}"
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        attempt = 0
        while True:
            req = request.Request(url, data=body, method=method, headers=headers)  # noqa: S310
            try:
                with request.urlopen(req, timeout=self.timeout) as response:  # noqa: S310 (http(s))
                    return json.loads(response.read() or b"null")
            except error.HTTPError as exc:
                refusal = f"{method} {url}: HTTP {exc.code}: {_error_text(exc)}"
                retry_after = exc.headers.get("Retry-After")
                if exc.code != 429 and not (exc.code == 503 and retry_after):
                    raise GateError(refusal) from None
            except (error.URLError, TimeoutError, OSError) as exc:
                raise GateError(f"{method} {url}: {getattr(exc, 'reason', exc)}") from None
            attempt += 1
            wait = retry_after_seconds(retry_after, attempt)
            problem = self._no_retry(attempt, wait)
            if problem:
                raise GateError(f"{refusal} ({problem})")
            print(
                f"fixops-gate: {refusal}; retrying in {wait:.0f} s ({attempt}/{self.max_retries})",
                file=sys.stderr,
            )
            self.retries += 1
            self.sleep(wait)

    def _no_retry(self, attempt: int, wait: float) -> str:
        """Why the call is not retried ("" when it is)."""
        if attempt > self.max_retries:
            return f"still refused after {self.max_retries} retries"
        if wait > MAX_RETRY_WAIT:
            return f"the server asks to wait {wait:.0f} s, more than {MAX_RETRY_WAIT:.0f} s"
        if self.deadline is not None and time.monotonic() + wait > self.deadline:
            return f"waiting {wait:.0f} s more would pass --timeout"
        return ""

    def upload(self, path: Path, fields: dict[str, str]) -> dict:
        boundary = uuid.uuid4().hex
        parts = []
        for name, value in fields.items():
            if value:
                parts.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                    f"{value}\r\n".encode()
                )
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
            + path.read_bytes()
            + b"\r\n"
        )
        parts.append(f"--{boundary}--\r\n".encode())
        return self.call(
            "POST", "/api/v1/scans/", b"".join(parts), f"multipart/form-data; boundary={boundary}"
        )


def _error_text(exc) -> str:
    try:
        body = json.loads(exc.read())
        problem = body.get("error", body)
        return f"{problem.get('message', '')} {json.dumps(problem.get('details') or '')}".strip()
    except (ValueError, AttributeError):
        return exc.reason


def _wait(client: Client, scan: dict, deadline: float, interval: float = 2.0) -> dict:
    """Poll a queued import until it is done; a failed scan, or one still queued or
    processing at the deadline (stuck), is a GateError naming it."""
    started = time.monotonic()
    while scan["status"] in ("queued", "processing"):
        if time.monotonic() + interval > deadline:
            raise GateError(
                f"scan {scan['id']} is stuck: still {scan['status']} "
                f"(progress {scan.get('progress', 0)}%) after {time.monotonic() - started:.0f} s "
                f"of waiting; see {scan['status_url']} (raise --timeout for very large reports)"
            )
        client.sleep(interval)
        scan = client.call("GET", scan["status_url"])
    if scan["status"] == "failed":
        problem = scan.get("error") or {}
        code = problem.get("code", "failed")
        message = problem.get("message") or json.dumps(problem)
        where = ", ".join(f"{k} {problem[k]}" for k in ("format", "pointer") if problem.get(k))
        raise GateError(
            f"scan {scan['id']} failed ({code}): {message}" + (f" [{where}]" if where else "")
        )
    return scan


def render(decision: dict) -> str:
    """The decision as a plain-text table, widest reasons first readable in any CI log."""
    policy = decision["policy"]
    lines = [
        f"FixOps decision {decision['id']}: {decision['outcome']} "
        f"(confidence {decision['confidence']:.2f}; policy {policy['name']} v{policy['version']})",
    ]
    rows = [("LEVEL", "RULE", "FINDINGS", "MESSAGE")] + [
        (r["level"].upper(), r["rule"], str(len(r["finding_ids"])), r["message"])
        for r in decision["reasons"]
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        lines.append(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[3]
        )
    if len(rows) == 1:
        lines.append("(no reasons: nothing in the policy objected)")
    for factor in decision.get("confidence_detail", {}).get("factors", []):
        lines.append(f"confidence x{factor['factor']}: {factor['reason']}")
    if decision.get("evidence_url"):
        lines.append(f"evidence: {decision['evidence_url']}")
    return "\n".join(lines)


def parse_exit_codes(text: str) -> dict[str, int]:
    codes = dict(DEFAULT_EXIT_CODES)
    for item in filter(None, (p.strip() for p in text.split(","))):
        outcome, _, code = item.partition("=")
        if outcome not in codes or not code.strip().isdigit():
            raise argparse.ArgumentTypeError(f"bad exit code mapping {item!r}")
        codes[outcome] = int(code)
    return codes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="*", type=Path, help="report files to upload")
    parser.add_argument("--url", default=os.environ.get("FIXOPS_URL", ""))
    parser.add_argument("--token", default=os.environ.get("FIXOPS_TOKEN", ""))
    parser.add_argument("--application", required=True, help="application name or id")
    parser.add_argument("--commit", default=_from_env("commit"))
    parser.add_argument("--branch", default=_from_env("branch"))
    parser.add_argument("--pipeline-run", default=_from_env("pipeline_run"))
    parser.add_argument("--format", default="",
                        help="report format of every report (sarif, trivy, ...); default: "
                             "detected from the content")  # fmt: skip
    parser.add_argument("--target", default="",
                        help="what the reports scanned (image, directory), used verbatim; "
                        "default: what each report says")  # fmt: skip
    parser.add_argument(
        "--source-root",
        default=None,
        help="absolute directory where the scanners saw the checkout "
        "(default: the CI workspace: $GITHUB_WORKSPACE, $CI_PROJECT_DIR...)",
    )
    parser.add_argument("--exit-codes", type=parse_exit_codes, default=DEFAULT_EXIT_CODES,
                        help="e.g. NEEDS_REVIEW=0 to let reviews pass")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=300, help="seconds for the whole gate")
    parser.add_argument(
        "--max-retries",
        type=int,
        default=5,
        help="retries of a call answered 429 (or 503 with Retry-After), after its Retry-After",
    )
    parser.add_argument("--json", action="store_true", help="print the decision as JSON")
    args = parser.parse_args(argv)
    if not args.url or not args.token:
        print("fixops-gate: set --url/FIXOPS_URL and --token/FIXOPS_TOKEN", file=sys.stderr)
        return FAILURE
    deadline = time.monotonic() + args.timeout
    try:
        client = Client(
            args.url, args.token, timeout=60, max_retries=args.max_retries, deadline=deadline
        )
    except GateError as exc:
        print(f"fixops-gate: {exc}", file=sys.stderr)
        return FAILURE
    source_root = _source_root_from_env() if args.source_root is None else args.source_root
    fields = {
        "application": args.application,
        "commit": args.commit,
        "branch": args.branch,
        "pipeline_run": args.pipeline_run,
    }
    try:
        scan_ids = []
        for path in args.reports:
            if not path.is_file():
                raise GateError(f"{path}: no such file")
            upload_fields = {
                **fields,
                "format": args.format,
                "target": args.target,
                "source_root": source_root,
            }
            scan = _wait(client, client.upload(path, upload_fields), deadline)
            print(f"uploaded {path} -> scan {scan['id']} ({scan['format']}, {scan['counts']})")
            scan_ids.append(scan["id"])
        body = json.dumps({**fields, "scans": scan_ids}).encode()
        decision = client.call("POST", "/api/v1/decisions/", body, "application/json")
    except GateError as exc:
        print(f"fixops-gate: {exc}", file=sys.stderr)
        return FAILURE
    print(json.dumps(decision, indent=2) if args.json else render(decision))
    return args.exit_codes.get(decision["outcome"], FAILURE)


if __name__ == "__main__":
    sys.exit(main())
