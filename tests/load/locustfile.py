"""FixOps load test (Locust, FastHttpUser): CI pipelines and analysts against the API.

User model (docs/operations.md, "Load test"):

- CiUser (weight 1): a pipeline run. Uploads one scanner report to an application of its
  tenant, like tools/fixops_gate.py: small SARIF (25 results, 16 KB) 60 %, medium (SARIF 300
  results 107 KB, or CycloneDX 400 components / 60 vulnerabilities 73 KB) 30 %, large SARIF
  (4,000 results, 1.35 MB: above the runner's FIXOPS_INGEST_ASYNC_BYTES of 1 MiB, so queued
  to the worker) 10 %. A queued (202) upload is polled every 2 s until imported; then
  POST /decisions/ over the scan and GET the decision. 429s are waited out per
  Retry-After and retried (3 times at most), as the gate client does. Think time between
  runs: 30-90 s.
- AnalystUser (weight 4): lists findings (open, by severity or riskiest first, 50 a page),
  opens one from the page, reads dashboards (analytics summary, SLA, trends), lists scans,
  decisions and applications. Think time between clicks: 3-15 s.

Each user's first action comes after a random share (uniform) of one mean think time, as a
population of independent users would be found mid-cycle, not all at their first click.

Every user belongs to one tenant, spread Zipf-like (s = 1) over the tenants of the tokens
file, the big tenant first; CI users of a tenant share its one CI token, analysts its few
analyst tokens. Each report variant has a different share of changed results, so an upload is
never a byte-for-byte replay of its stream's last one.

Environment: LOADTEST_TOKENS (the file tests/load/prepare.py wrote) and LOADTEST_SUMMARY (where
the summary JSON goes at exit). The summary counts 429s apart from errors, and measures
latency percentiles over the requests answered after all users were spawned.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from locust import FastHttpUser, between, events, task

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench.generate import cyclonedx_file, sarif_file  # noqa: E402

RETRIES = 3  # 429s waited out, then the call counts as refused
POLL_SECONDS = 2.0
POLL_LIMIT = 90  # 3 minutes for a queued import


# --- the data every user shares ---------------------------------------------------------------


def _tenants() -> list[dict]:
    path = os.environ.get("LOADTEST_TOKENS")
    if not path:
        raise SystemExit("LOADTEST_TOKENS must name the tokens file (tests/load/prepare.py)")
    return json.loads(Path(path).read_text())["tenants"]


def _reports() -> dict[str, list[tuple[str, bytes]]]:
    """Report bytes by size class: (file name, bytes), four variants each (different churn)."""
    out: dict[str, list[tuple[str, bytes]]] = {"small": [], "medium": [], "large": []}
    with tempfile.TemporaryDirectory(prefix="fixops-load-") as tmp:
        for v in range(4):
            made = [
                ("small", sarif_file(Path(tmp) / f"s{v}.sarif", 25, seed=v, changed=0.1 * v)),
                ("medium", sarif_file(Path(tmp) / f"m{v}.sarif", 300, seed=v, changed=0.05 * v)),
                ("medium", cyclonedx_file(Path(tmp) / f"c{v}.cdx.json", 400, 60 + v)),
                ("large", sarif_file(Path(tmp) / f"l{v}.sarif", 4000, seed=v, changed=0.02 * v)),
            ]
            for size, path in made:
                out[size].append((path.name, path.read_bytes()))
    return out


TENANTS = _tenants()
REPORTS = _reports()
# Zipf (s = 1) over tenants: the first, big tenant gets the largest share of users.
TENANT_WEIGHTS = [1 / (rank + 1) for rank in range(len(TENANTS))]
_SEATS = itertools.count()


def _multipart(fields: dict[str, str], name: str, content: bytes) -> tuple[bytes, str]:
    boundary = f"fixopsload{random.getrandbits(64):016x}"  # noqa: S311 - not a secret
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


# --- the summary: 429s apart, percentiles after the ramp --------------------------------------


class Summary:
    """What the runner prints: every request by outcome, latencies of the steady phase."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.started = self.last = time.time()
        self.latencies_ms: list[float] = []
        self.by_name: dict[str, list[float]] = {}
        self.requests = 0
        self.throttled = 0
        self.errors: dict[str, int] = {}
        self.status_5xx = 0
        self.ci_runs: list[float] = []
        self.ci_outcomes: dict[str, int] = {}

    def record(self, name: str, status: int, ms: float, exception) -> None:
        self.requests += 1
        self.last = time.time()
        if status == 429:
            self.throttled += 1
            return
        self.latencies_ms.append(ms)
        self.by_name.setdefault(name, []).append(ms)
        if status >= 500:
            self.status_5xx += 1
        if status == 0 or status >= 400 or exception is not None:
            key = f"{status} {name}" if status else f"{type(exception).__name__} {name}"
            self.errors[key] = self.errors.get(key, 0) + 1

    def as_dict(self) -> dict:
        # up to the last answer: the stop phase (users finishing their call) adds no time
        elapsed = max(self.last - self.started, 1e-9)
        errors = sum(self.errors.values())
        return {
            "seconds": round(elapsed, 1),
            "requests": self.requests,
            "rps": round(self.requests / elapsed, 2),
            "throttled_429": self.throttled,
            "errors": errors,
            "error_rate": errors / max(self.requests - self.throttled, 1),
            "status_5xx": self.status_5xx,
            "error_kinds": dict(sorted(self.errors.items(), key=lambda kv: -kv[1])[:20]),
            "latency_ms": _percentiles(self.latencies_ms),
            "endpoints": {
                name: {"count": len(values), **_percentiles(values)}
                for name, values in sorted(self.by_name.items())
            },
            "ci_run_seconds": _percentiles(self.ci_runs),
            "ci_outcomes": self.ci_outcomes,
        }


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1], 1)}


SUMMARY = Summary()


@events.request.add_listener
def _on_request(request_type, name, response_time, response_length, response, exception, **kw):
    status = getattr(response, "status_code", 0) or 0
    SUMMARY.record(name, status, response_time, exception)


@events.spawning_complete.add_listener
def _on_spawned(user_count, **kw):
    SUMMARY.reset()  # the steady phase only: every user is in


@events.quitting.add_listener
def _on_quit(environment, **kw):
    path = os.environ.get("LOADTEST_SUMMARY")
    if path:
        Path(path).write_text(json.dumps(SUMMARY.as_dict(), indent=1))


# --- the users ----------------------------------------------------------------------------------


class TenantUser(FastHttpUser):
    abstract = True
    # Big reports and a saturated server: a slow answer is a figure, a timeout an error.
    network_timeout = 120.0
    connection_timeout = 30.0

    think: tuple[float, float] = (1, 1)  # seconds between actions (wait_time)

    def on_start(self) -> None:
        seat = next(_SEATS)
        self.rng = random.Random(seat)  # noqa: S311 - test traffic
        self.tenant = self.rng.choices(TENANTS, weights=TENANT_WEIGHTS)[0]
        self.token = self.pick_token(seat)
        self.headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        # Independent users are met at any point of their cycle: each starts after a random
        # share of one mean think time, so arrivals run at the steady rate from the start.
        # Without it every user acts within the spawn's few seconds, and the step measures
        # that burst draining (p95 7 s at 400 users, all of it in the first 15 s).
        time.sleep(self.rng.uniform(0, sum(self.think) / 2))

    def pick_token(self, seat: int) -> str:
        raise NotImplementedError

    def call(self, method: str, path: str, name: str, **kwargs):
        """One API call; a 429 is waited out (Retry-After) and retried. Returns the response
        (status 429 when still refused)."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        for attempt in range(RETRIES + 1):
            with self.client.request(
                method, path, name=name, headers=headers, catch_response=True, **kwargs
            ) as response:
                if response.status_code == 429 and attempt < RETRIES:
                    response.success()  # counted apart by the summary, not a failure
                    wait = float(response.headers.get("Retry-After") or 2 ** (attempt + 1))
                    time.sleep(min(wait, 60.0) + self.rng.random())
                    continue
                return response
        return response


class CiUser(TenantUser):
    weight = 1
    think = (30, 90)
    wait_time = between(*think)

    def pick_token(self, seat: int) -> str:
        return self.tenant["ci_token"]

    @task
    def pipeline_run(self) -> None:
        started = time.monotonic()
        outcome = self._run()
        SUMMARY.ci_runs.append(time.monotonic() - started)
        SUMMARY.ci_outcomes[outcome] = SUMMARY.ci_outcomes.get(outcome, 0) + 1

    def _run(self) -> str:
        size = self.rng.choices(["small", "medium", "large"], weights=[60, 30, 10])[0]
        name, content = self.rng.choice(REPORTS[size])
        app = self.rng.choice(self.tenant["applications"])
        commit = f"{self.rng.getrandbits(160):040x}"
        fields = {"application": app, "commit": commit, "branch": "main", "source_root": "/src"}
        body, ctype = _multipart(fields, name, content)
        upload = self.call(
            "POST", "/api/v1/scans/", f"POST /scans/ [{size}]", data=body,
            headers={"Content-Type": ctype},
        )  # fmt: skip
        if upload.status_code not in (200, 201, 202):
            return f"upload {upload.status_code}"
        scan = upload.json()
        polls = 0
        while scan["status"] in ("queued", "processing") and polls < POLL_LIMIT:
            time.sleep(POLL_SECONDS)
            polls += 1
            poll = self.call("GET", scan["status_url"], "GET /scans/{id}/")
            if poll.status_code != 200:
                return f"poll {poll.status_code}"
            scan = poll.json()
        if scan["status"] != "done":
            return f"scan {scan['status']}"
        decision = self.call(
            "POST", "/api/v1/decisions/", "POST /decisions/",
            json={"application": app, "commit": commit, "branch": "main", "scans": [scan["id"]]},
        )  # fmt: skip
        if decision.status_code != 201:
            return f"decision {decision.status_code}"
        read = self.call("GET", decision.json()["url"], "GET /decisions/{id}/")
        return "decided" if read.status_code == 200 else f"read {read.status_code}"


class AnalystUser(TenantUser):
    weight = 4
    think = (3, 15)
    wait_time = between(*think)

    def on_start(self) -> None:
        super().on_start()
        self.finding_ids: list[int] = []

    def pick_token(self, seat: int) -> str:
        tokens = self.tenant["analyst_tokens"]
        return tokens[seat % len(tokens)]

    @task(6)
    def list_findings(self) -> None:
        query = self.rng.choice(
            [
                "status=open&page_size=50",
                "status=open&severity=critical&severity=high&page_size=50",
                "status=open&ordering=-risk_score&page_size=50",
                "sla=overdue&ordering=due_at&page_size=50",
                "kev=true&page_size=50",
            ]
        )
        response = self.call("GET", f"/api/v1/findings/?{query}", "GET /findings/?filters")
        if response.status_code == 200:
            self.finding_ids = [f["id"] for f in response.json().get("results", [])]

    @task(4)
    def open_finding(self) -> None:
        if not self.finding_ids:
            return self.list_findings()
        finding = self.rng.choice(self.finding_ids)
        self.call("GET", f"/api/v1/findings/{finding}/", "GET /findings/{id}/")

    @task(2)
    def dashboard(self) -> None:
        self.call("GET", "/api/v1/analytics/summary/", "GET /analytics/summary/")
        self.call("GET", "/api/v1/analytics/sla/", "GET /analytics/sla/")

    @task(1)
    def trends(self) -> None:
        self.call("GET", "/api/v1/analytics/trends/?days=30", "GET /analytics/trends/")

    @task(1)
    def scans(self) -> None:
        self.call("GET", "/api/v1/scans/?page_size=25", "GET /scans/")

    @task(2)
    def decisions(self) -> None:
        self.call("GET", "/api/v1/decisions/?page_size=25", "GET /decisions/")

    @task(1)
    def applications(self) -> None:
        self.call("GET", "/api/v1/applications/", "GET /applications/")
